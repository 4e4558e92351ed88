"""OpenID4VP 1.0 over the W3C Digital Credentials API (Appendix A): unsigned and signed requests, answers
bound to the page's origin (B.2.6.2 for mdoc, A.4 for SD-JWT VC), dc_api and dc_api.jwt, and every refusal."""

from __future__ import annotations


def test_dc_api_handover_known_answer():
    """OpenID4VP 1.0 Appendix B.2.6.2's example: OpenID4VPDCAPIHandoverInfo and the SessionTranscript."""
    from jwcrypto import jwk

    from didlib.oid4vp import jwk_thumbprint
    from didlib.session.transcript import dc_api_handover_info, dc_api_transcript

    key = jwk.JWK(kty="EC", crv="P-256", x="DxiH5Q4Yx3UrukE2lWCErq8N8bqC9CHLLrAwLz5BmE0",
                  y="XtLM4-3h5o3HUH0MHVJV0kyq0iBlrBwlh8qEDMZ4-Pc", use="enc", alg="ECDH-ES", kid="1")
    thumbprint = jwk_thumbprint(key)
    nonce = "exc7gBkxjx1rdc9udRrveKvSsJIq80avlXeLHhGwqtA"
    assert dc_api_handover_info("https://example.com", nonce, thumbprint).hex() == (
        "837368747470733a2f2f6578616d706c652e636f6d782b6578633767426b786a7831"
        "726463397564527276654b7653734a4971383061766c58654c486847777174415820"
        "4283ec927ae0f208daaa2d026a814f2b22dca52cf85ffa8f3f8626c6bd669047")
    assert dc_api_transcript("https://example.com", nonce, thumbprint).hex() == (
        "83f6f682764f70656e4944345650444341504948616e646f7665725820fbece366f4"
        "212f9762c74cfdbf83b8c69e371d5d68cea09cb4c48ca6daab761a")
