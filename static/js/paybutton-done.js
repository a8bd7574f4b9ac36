/* MatterPay public pay page receipt: tell the window that opened this one (the firm's
 * website, through the pay button) that the payment finished.
 *
 * The message goes to each of the firm's registered website origins by name, never to "*":
 * the browser delivers it only if the opener really is on that origin, so no other site can
 * read it. The origins and the message come from data attributes (no inline script).
 */
(function () {
  "use strict";
  var holder = document.getElementById("paybutton-done");
  if (!holder || !window.opener || window.opener === window) {
    return;
  }
  var origins = (holder.getAttribute("data-origins") || "").split(" ").filter(Boolean);
  var message;
  try {
    message = JSON.parse(holder.getAttribute("data-message") || "null");
  } catch (e) {
    return;
  }
  if (!message) {
    return;
  }
  origins.forEach(function (origin) {
    try {
      window.opener.postMessage(message, origin);
    } catch (e) {
      /* an origin the browser cannot parse: skip it */
    }
  });
})();
