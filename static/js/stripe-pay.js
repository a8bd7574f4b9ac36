/* MatterPay review page, Stripe variant: Stripe's Payment Element collects the card or bank
 * details inside Stripe's own frame, Stripe.js turns them into a PaymentMethod, and only its
 * id (pm_...) reaches our server, in the hidden `payment_method_id` field. The server then
 * charges it with the page's nonce as the idempotency key.
 *
 * Also the console's Make a payment step 4a on a Stripe account (card only, charged as MOTO).
 *
 * Needs Stripe.js (https://js.stripe.com/v3/, loaded before this file) and the element
 * [data-stripe-payment] with data-publishable-key, data-method ("card" or "ach"),
 * data-amount (minor units) and data-currency.
 */
(function () {
  "use strict";

  var mount = document.querySelector("[data-stripe-payment]");
  if (!mount || typeof window.Stripe !== "function") {
    return;
  }
  var form = mount.closest("form");
  var button = form.querySelector("[data-pay-button]");
  var label = button ? button.textContent : "";
  var field = form.querySelector("input[name='payment_method_id']");
  var stripe = window.Stripe(mount.getAttribute("data-publishable-key"));
  var type = mount.getAttribute("data-method") === "ach" ? "us_bank_account" : "card";
  var elements = stripe.elements({
    mode: "payment",
    amount: parseInt(mount.getAttribute("data-amount"), 10),
    currency: mount.getAttribute("data-currency"),
    paymentMethodCreation: "manual",
    paymentMethodTypes: [type],
    // Stripe's own labels in the page's language ("es", "en"); "auto" follows the browser.
    locale: mount.getAttribute("data-locale") || "auto",
  });
  elements.create("payment").mount(mount);

  var message = document.createElement("p");
  message.className = "field-error";
  message.setAttribute("role", "alert");
  message.hidden = true;
  mount.parentNode.insertBefore(message, mount.nextSibling);

  var busy = false;

  function setBusy(on) {
    busy = on;
    if (button) {
      button.disabled = on;
      button.textContent = on ? button.getAttribute("data-busy-text") || label : label;
    }
  }

  form.addEventListener("submit", function (event) {
    // The client's saved cards, or the console's saved payers (Make a payment, step 4a).
    var saved = form.querySelector(
      'input[name="saved_method"]:checked, input[name="payer_choice"]:checked'
    );
    var other = form.querySelector('input[name="method"]:checked');
    var submitter = event.submitter;
    if ((saved && saved.value !== "new") || (submitter && submitter.hasAttribute("formaction"))) {
      return; // a saved card, or removing one: nothing for Stripe.js to collect
    }
    if (other && other.value !== mount.getAttribute("data-method")) {
      return; // the console's other method (a bank account): not the element's to collect
    }
    event.preventDefault();
    if (busy) {
      return;
    }
    setBusy(true);
    message.hidden = true;
    elements
      .submit()
      .then(function (result) {
        if (result.error) {
          throw result.error;
        }
        return stripe.createPaymentMethod({ elements: elements });
      })
      .then(function (result) {
        if (result.error) {
          throw result.error;
        }
        field.value = result.paymentMethod.id;
        form.submit(); // does not fire "submit" again
      })
      .catch(function (error) {
        message.textContent = (error && error.message) || mount.getAttribute("data-text-failed");
        message.hidden = false;
        setBusy(false);
      });
  });
})();
