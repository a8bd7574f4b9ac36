/* MatterPay console, Settings: a live preview of the brand colour's contrast with white text.
 *
 * Only a preview: the server checks the colour again when the form is sent (portal.colors,
 * WCAG 2.2 relative luminance and contrast, the same arithmetic as here). Without this script
 * the page shows the stored colour's contrast and works the same.
 *
 * The holder (#brand-contrast) carries the translated sentences as data attributes, with
 * {colour}, {ratio} and {minimum} to fill in.
 */
(function () {
  "use strict";
  var holder = document.getElementById("brand-contrast");
  var input = holder && document.getElementById(holder.getAttribute("data-input"));
  var swatch = document.getElementById("brand-swatch");
  if (!holder || !input) {
    return;
  }
  var minimum = parseFloat(holder.getAttribute("data-minimum")) || 4.5;

  function channel(value) {
    var c = value / 255;
    return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  }

  function luminance(hex) {
    var r = parseInt(hex.slice(0, 2), 16);
    var g = parseInt(hex.slice(2, 4), 16);
    var b = parseInt(hex.slice(4, 6), 16);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  }

  function say(name, colour, ratio) {
    return (holder.getAttribute("data-" + name) || "")
      .replace("{colour}", colour)
      .replace("{ratio}", ratio)
      .replace("{minimum}", String(minimum));
  }

  function update() {
    var text = input.value.trim();
    var match = /^#?([0-9a-fA-F]{6})$/.exec(text);
    holder.classList.remove("contrast--ok", "contrast--low");
    if (!text) {
      holder.textContent = say("none", "", "");
      swatch.hidden = true;
      return;
    }
    if (!match) {
      holder.textContent = say("invalid", text, "");
      swatch.hidden = true;
      return;
    }
    var hex = match[1].toLowerCase();
    // White's luminance is 1: (1 + 0.05) / (L + 0.05).
    var ratio = 1.05 / (luminance(hex) + 0.05);
    var shown = (Math.floor(ratio * 100) / 100).toFixed(2);
    var good = ratio >= minimum;
    holder.textContent = say(good ? "ok" : "low", "#" + hex, shown);
    holder.classList.add(good ? "contrast--ok" : "contrast--low");
    swatch.style.backgroundColor = "#" + hex;
    swatch.hidden = false;
  }

  input.addEventListener("input", update);
  update();
})();
