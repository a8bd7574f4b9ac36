/* MatterPay hosted pay pages in a pop-up: a "close" button that returns to the firm's website.
 *
 * Shown only when the page has an opener (the pay button opened it). Closing tells the opener
 * {type: "matterpay:closed", firm} by postMessage, addressed to each of the firm's registered
 * origins by name (never "*"), then closes the window; the browser returns to the site.
 */
(function () {
  "use strict";
  var holder = document.getElementById("popup-close");
  if (!holder || !window.opener || window.opener === window) {
    return;
  }
  var origins = (holder.getAttribute("data-origins") || "").split(" ").filter(Boolean);
  var message = { type: "matterpay:closed", firm: holder.getAttribute("data-firm") || "" };
  holder.hidden = false;
  holder.querySelector("button").addEventListener("click", function () {
    origins.forEach(function (origin) {
      try {
        window.opener.postMessage(message, origin);
      } catch (e) {
        /* an origin the browser cannot parse: skip it */
      }
    });
    window.close();
  });
})();
