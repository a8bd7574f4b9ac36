/* MatterPay console, Make a payment, step 4a: shows only the parts of the form that the
 * choices made so far need.
 *
 * - A saved method chosen: the new payer's part is hidden, and the words to read to the payer
 *   show only for a method saved for one payment at a time (its radio has data-ask).
 * - A new payer: the card or the bank account, whichever "How the payer pays" says, and the
 *   consent words once "Save payer" is ticked.
 *
 * Only a convenience: without this script every part shows, and the server reads only what
 * the choices need and says what is missing.
 */
(function () {
  "use strict";
  var form = document.getElementById("pay");
  if (!form) {
    return;
  }

  function checked(name) {
    return form.querySelector('input[name="' + name + '"]:checked');
  }

  function show(id, visible) {
    var part = document.getElementById(id);
    if (part) {
      part.hidden = !visible;
    }
  }

  function update() {
    var payer = checked("payer_choice");
    var isNew = !payer || payer.value === "new";
    var method = checked("method");
    var bank = method !== null && method.value === "ach";
    var save = document.getElementById("save_payer");
    show("new-payer", isNew);
    show("phone-consent", !isNew && payer.hasAttribute("data-ask"));
    show("card-part", !bank);
    show("bank-part", bank);
    show("consent-words", save !== null && save.checked);
  }

  form.addEventListener("change", update);
  update();
})();
