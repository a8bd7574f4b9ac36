/* MatterPay pay pages: progressive enhancement only. Every page works without this file.
 *
 * Basket (/pay): a live total, ticking a line when its amount is edited, filling in a ticked
 * line's suggested amount (and clearing it when unticked), and a preview of how a typed total
 * would be applied (in the firm's order: each invoice carries its rank). The figures here are a preview;
 * the server computes the real ones on the review page.
 * Review: the Pay button is disabled after the first click (the server also refuses to charge
 * twice: the form's nonce is the payment's idempotency key).
 * Receipt: a Print button. Any page sent back with errors: focus on the error summary.
 */
(function () {
  "use strict";

  function decimals(locale, currency) {
    try {
      return new Intl.NumberFormat(locale, { style: "currency", currency: currency })
        .resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return 2;
    }
  }

  /* Read what a person typed ("1,250.50", "1.250,50", "1250") as an integer of minor units,
     or null. The last "." or "," followed by at most `digits` digits is the decimal mark. */
  function parseMinor(text, digits) {
    var cleaned = String(text || "").replace(/[\s\u00a0\u202f]/g, "").replace(/^[^\d.,-]+/, "");
    if (!/^\d[\d.,]*$/.test(cleaned)) {
      return null;
    }
    var mark = Math.max(cleaned.lastIndexOf("."), cleaned.lastIndexOf(","));
    var whole = cleaned;
    var fraction = "";
    if (mark >= 0 && cleaned.length - mark - 1 <= digits && cleaned.length - mark - 1 > 0) {
      whole = cleaned.slice(0, mark);
      fraction = cleaned.slice(mark + 1);
    }
    whole = whole.replace(/[.,]/g, "");
    if (!/^\d+$/.test(whole) || fraction.length > digits) {
      return null;
    }
    while (fraction.length < digits) {
      fraction += "0";
    }
    return parseInt(whole + fraction, 10);
  }

  function formatMinor(minor, locale, currency, digits) {
    var text = String(Math.abs(minor));
    while (text.length <= digits) {
      text = "0" + text;
    }
    var plain = digits ? text.slice(0, -digits) + "." + text.slice(-digits) : text;
    try {
      // A decimal string keeps the figure exact (no binary fractions).
      return new Intl.NumberFormat(locale, { style: "currency", currency: currency }).format(plain);
    } catch (e) {
      return currency + " " + plain;
    }
  }

  function say(template, amount) {
    return String(template || "").replace("{amount}", amount);
  }

  function enhanceBasket(form) {
    var locale = form.getAttribute("data-locale") || "en-US";
    var lines = Array.prototype.slice.call(form.querySelectorAll("[data-pay-line]"));
    var totalBox = form.querySelector("[data-pay-total]");
    var totalPreview = form.querySelector("[data-total-preview]");
    var liveTotal = form.querySelector("[data-live-total]");

    function parts(line) {
      var boxes = line.querySelectorAll("input");
      return { tick: boxes[0], amount: boxes[1] };
    }

    lines.forEach(function (line) {
      var p = parts(line);
      p.amount.addEventListener("input", function () {
        // Typing an amount means "pay this line".
        if (p.amount.value.trim() !== "") {
          p.tick.checked = true;
        }
      });
      // Ticking a line fills in what it suggests (what is owed); unticking takes back an
      // amount nobody changed, so no unticked line shows an amount the payer did not choose.
      var suggested = line.getAttribute("data-suggested") || "";
      p.tick.addEventListener("change", function () {
        if (p.tick.checked && p.amount.value.trim() === "") {
          p.amount.value = suggested;
        } else if (!p.tick.checked && p.amount.value.trim() === suggested) {
          p.amount.value = "";
        }
      });
    });

    function update() {
      var currency = null;
      var digits = 2;
      var sum = 0;
      var readable = true;
      var typedTotal = totalBox ? totalBox.value.trim() : "";
      var invoices = lines.filter(function (l) {
        return l.getAttribute("data-pay-line") === "invoice";
      });

      invoices.forEach(function (line) {
        line.classList.toggle("is-auto", typedTotal !== "");
        var preview = line.querySelector("[data-preview]");
        if (preview) {
          preview.hidden = true;
        }
      });

      if (typedTotal !== "") {
        currency = totalBox.getAttribute("data-currency");
        digits = decimals(locale, currency);
        var remaining = parseMinor(typedTotal, digits);
        var due = 0;
        invoices.forEach(function (line) {
          due += parseInt(line.getAttribute("data-payable"), 10);
        });
        if (remaining === null) {
          readable = false;
          totalPreview.hidden = true;
        } else if (remaining > due) {
          totalPreview.textContent = form.getAttribute("data-text-over");
          totalPreview.hidden = false;
          readable = false;
        } else {
          totalPreview.hidden = true;
          sum += remaining;
          invoices
            .slice()
            .sort(function (a, b) {
              return parseInt(a.getAttribute("data-rank"), 10) - parseInt(b.getAttribute("data-rank"), 10);
            })
            .forEach(function (line) {
              var payable = parseInt(line.getAttribute("data-payable"), 10);
              var part = Math.min(payable, remaining);
              remaining -= part;
              var preview = line.querySelector("[data-preview]");
              preview.textContent =
                say(form.getAttribute("data-text-applied"), formatMinor(part, locale, currency, digits)) +
                " · " +
                say(form.getAttribute("data-text-stays"), formatMinor(payable - part, locale, currency, digits));
              preview.hidden = false;
            });
        }
      } else {
        if (totalPreview) {
          totalPreview.hidden = true;
        }
        invoices.forEach(function (line) {
          var p = parts(line);
          if (!p.tick.checked) {
            return;
          }
          currency = currency || line.getAttribute("data-currency");
          digits = decimals(locale, currency);
          var minor = p.amount.value.trim() === ""
            ? parseInt(line.getAttribute("data-payable"), 10)
            : parseMinor(p.amount.value, digits);
          if (minor === null || line.getAttribute("data-currency") !== currency) {
            readable = false;
          } else {
            sum += minor;
          }
        });
      }

      lines.forEach(function (line) {
        if (line.getAttribute("data-pay-line") !== "trust") {
          return;
        }
        var p = parts(line);
        if (!p.tick.checked) {
          return;
        }
        currency = currency || line.getAttribute("data-currency");
        digits = decimals(locale, currency);
        var minor = parseMinor(p.amount.value, digits);
        if (minor === null || line.getAttribute("data-currency") !== currency) {
          readable = false;
        } else {
          sum += minor;
        }
      });

      var dueFigure = form.querySelector("[data-due-figure]");
      if (readable && currency) {
        liveTotal.textContent = say(form.getAttribute("data-text-total"), formatMinor(sum, locale, currency, digits));
        liveTotal.hidden = false;
      } else {
        liveTotal.hidden = true;
      }
      if (dueFigure) {
        dueFigure.hidden = !liveTotal.hidden;
      }
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  function guardConfirm(form) {
    if (form.querySelector("[data-stripe-payment]")) {
      return; // stripe-pay.js submits that form itself.
    }
    var button = form.querySelector("[data-pay-button]");
    var label = button ? button.textContent : "";
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent) {
        event.preventDefault();
        return;
      }
      sent = true;
      if (button) {
        button.disabled = true;
        button.textContent = button.getAttribute("data-busy-text") || label;
      }
    });
    // Coming back to the page from the history: let the payer act again.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && button) {
        sent = false;
        button.disabled = false;
        button.textContent = label;
      }
    });
  }

  function offerPrint(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  }

  // A page sent back with errors: take keyboard and screen reader users to the summary.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-pay-basket]"), enhanceBasket);
  Array.prototype.forEach.call(document.querySelectorAll("form[data-pay-confirm]"), guardConfirm);
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), offerPrint);
})();
