// didlib: the W3C Digital Credentials API, the page's side: OpenID4VP (OpenID4VP 1.0 Appendix A) and
// ISO/IEC 18013-7 Annex C (org-iso-mdoc).
//
// Markup: <button hidden data-dc-api-request="URL" data-dc-api-response="URL" data-dc-api-status="ID">.
// Where the browser has the API (window.DigitalCredential and navigator.credentials.get) and allows one of
// these protocols (DigitalCredential.userAgentAllowsProtocol, where it has that), the button is shown;
// a press POSTs to data-dc-api-request for the navigator.credentials.get options (made by the server with
// didlib.oid4vp.dc_api.navigator_options), keeps the requests in protocols the browser allows, asks the
// browser, and POSTs the DigitalCredential's
// {protocol, data} to data-dc-api-response as JSON. The server checks it; the page learns the verdict from
// the server as before. Elsewhere the button stays hidden and the page's QR code and link are the way.
// The outcome is also sent as a "dc-api-answer" event (detail: the server's JSON reply) on the button.
(function () {
  "use strict";

  const PROTOCOLS = ["openid4vp-v1-signed", "openid4vp-v1-unsigned", "org-iso-mdoc"];

  // Whether the browser allows a protocol, where it says (Safari 26 speaks only org-iso-mdoc).
  function allowed(protocol) {
    const api = window.DigitalCredential;
    return typeof api.userAgentAllowsProtocol !== "function" || api.userAgentAllowsProtocol(protocol);
  }

  // The API, and one of our protocols allowed.
  function available() {
    if (typeof window.DigitalCredential === "undefined" || !navigator.credentials ||
        typeof navigator.credentials.get !== "function") {
      return false;
    }
    return PROTOCOLS.some(allowed);
  }

  function say(button, text) {
    const status = document.getElementById(button.dataset.dcApiStatus || "");
    if (status) {
      status.textContent = text;
      status.className = "refused";
    }
  }

  async function verify(button) {
    button.disabled = true;
    try {
      const made = await fetch(button.dataset.dcApiRequest, {method: "POST", credentials: "same-origin"});
      if (!made.ok) throw new Error("the site could not make a request (" + made.status + ")");
      const options = await made.json();
      options.digital.requests = options.digital.requests.filter((request) => allowed(request.protocol));
      const credential = await navigator.credentials.get(options);
      if (!credential) throw new Error("the browser returned no answer");
      const data = typeof credential.data === "string" ? JSON.parse(credential.data) : credential.data;
      const sent = await fetch(button.dataset.dcApiResponse, {
        method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({protocol: credential.protocol, data: data}),
      });
      const reply = await sent.json();
      button.dispatchEvent(new CustomEvent("dc-api-answer", {detail: reply, bubbles: true}));
      if (!sent.ok) say(button, "Your wallet's answer was not accepted: " + (reply.error_description || reply.error));
    } catch (error) {
      say(button, "The browser could not ask your wallet (" + (error.message || error.name) +
        "): scan the QR code or open the link instead");
    } finally {
      button.disabled = false;
    }
  }

  function setUp() {
    if (!available()) return;
    for (const button of document.querySelectorAll("[data-dc-api-request]")) {
      button.hidden = false;
      button.addEventListener("click", () => verify(button));
    }
  }

  window.didlibDcApi = {available: available, verify: verify};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
