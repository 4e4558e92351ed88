"""The mock DVLA, DBS and safeguarding-training issuers: a FastAPI service over didlib (OpenID4VCI 1.0).

Fictional people only. Everything a credential is made of comes from didlib; this package holds the
registers, storage, HTTP and configuration.
"""
