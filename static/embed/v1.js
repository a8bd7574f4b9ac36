/* MatterPay pay button, version 1. Paste on the firm's website:
 *   <script src="https://PORTAL/embed/v1.js" integrity="sha384-..." crossorigin="anonymous"
 *           data-firm="FIRM-SLUG" defer></script>
 * It asks the portal what to show (the portal answers only the firm's registered origins),
 * draws "Pay your invoice" (and "Deposit to trust" when the firm offers it) where the script
 * tag is, and opens the firm's hosted payment page in a new window: card details are typed on
 * the portal's own page, never in a frame on this site. When the payment finishes, the portal
 * page posts {type: "matterpay:payment", status, payment, amount_minor, currency} to this
 * window; it is accepted from the portal's origin only and re-dispatched on the script's
 * container as a "matterpay:payment" DOM event (detail = the message).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    return;
  }
  var firm = script.getAttribute("data-firm") || "";
  if (!/^[a-z0-9-]{1,64}$/.test(firm)) {
    if (window.console) { window.console.warn("MatterPay: data-firm is missing or invalid"); }
    return;
  }
  var portal = new URL(script.src, document.baseURI).origin;
  var lang = (document.documentElement.getAttribute("lang") || "").slice(0, 16);
  var box = document.createElement("div");
  box.className = "matterpay-buttons";
  box.setAttribute("data-matterpay-firm", firm);
  script.parentNode.insertBefore(box, script.nextSibling);

  function button(spec, name, note) {
    var el = document.createElement("button");
    el.type = "button";
    el.className = "matterpay-button matterpay-button--" + name;
    el.textContent = spec.label;
    el.setAttribute("aria-label", spec.label + " (" + note + ")");
    el.addEventListener("click", function () {
      // Not "noopener": the portal page needs its opener to post the completion message.
      var opened = window.open(spec.url, "matterpay-" + firm, "popup=yes,width=560,height=760");
      if (!opened) {
        window.location.href = spec.url; // a blocked pop-up: go there in this window
      }
    });
    box.appendChild(el);
    box.appendChild(document.createTextNode(" "));
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== portal) {
      return;
    }
    var data = event.data;
    if (!data || data.type !== "matterpay:payment" || data.firm !== firm) {
      return;
    }
    var custom;
    try {
      custom = new CustomEvent("matterpay:payment", { detail: data, bubbles: true });
    } catch (e) {
      return;
    }
    box.dispatchEvent(custom);
  });

  var url = portal + "/embed/v1/" + encodeURIComponent(firm) + ".json" +
    (lang ? "?lang=" + encodeURIComponent(lang) : "");
  fetch(url, { mode: "cors", credentials: "omit" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("this site's origin is not registered with the firm's pay button");
      }
      return response.json();
    })
    .then(function (config) {
      button(config.pay, "pay", config.opens_window);
      if (config.trust) {
        button(config.trust, "trust", config.opens_window);
      }
      box.setAttribute("data-ready", "true");
    })
    .catch(function (error) {
      if (window.console) { window.console.warn("MatterPay: " + error.message); }
    });
})();
