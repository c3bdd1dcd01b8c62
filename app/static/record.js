// Shows a visit date's deviation from its window while the date is typed, so the
// coordinator sees it before saving. The server asks again when this script does not run.
(function () {
  "use strict";
  var form = document.getElementById("record-form");
  if (!form) return;
  var input = document.getElementById("actual_date");
  var out = document.getElementById("deviation");
  var confirmed = document.getElementById("confirmed_date");
  var save = document.getElementById("save");
  var saveText = save ? save.textContent : "";
  var start = form.getAttribute("data-window-start");
  var end = form.getAttribute("data-window-end");
  var DAY = 86400000;
  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

  function parse(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) : null;
  }
  function label(ms) {
    return WEEKDAYS[new Date(ms).getUTCDay()] + " " + new Date(ms).toISOString().slice(0, 10);
  }
  function plural(n) { return n + " day" + (n === 1 ? "" : "s"); }

  // The message for a date outside the window, or "" when inside (or unknown).
  function deviation() {
    var actual = parse(input.value), s = parse(start), e = parse(end);
    if (actual === null || s === null || e === null) return "";
    if (actual < s) return plural(Math.round((s - actual) / DAY)) + " early: the window opens on " + label(s) + ".";
    if (actual > e) return plural(Math.round((actual - e) / DAY)) + " late: the window closed on " + label(e) + ".";
    return "";
  }

  function show() {
    var text = deviation();
    if (save) save.textContent = text ? "Save with this deviation" : saveText;
    out.className = text ? "warning" : "";
    out.textContent = "";
    if (text) {
      var strong = document.createElement("strong");
      strong.textContent = "Out of window: ";
      out.appendChild(strong);
      out.appendChild(document.createTextNode(text + " It will be recorded as a protocol deviation."));
    } else if (input.value && parse(start) !== null) {
      out.textContent = "Inside the window.";
    }
  }

  input.addEventListener("input", show);
  input.addEventListener("change", show);
  form.addEventListener("submit", function () {
    // The deviation was on screen while the date was chosen: no second step needed.
    if (deviation()) confirmed.value = input.value;
  });
  show();
})();
