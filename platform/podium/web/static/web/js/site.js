// Podium's own scripts: the phone menu, scroll cues, countdowns, the config editor and the charts.
// Everything reads its data from the page (data-* attributes, json_script blocks);
// no inline scripts, no network calls of its own (htmx does the live parts).
(function () {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // --- the header's menu on a phone: one button shows and hides the links ---
  function initMenu() {
    var button = document.querySelector(".menu-toggle");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) return;
    button.hidden = false; // without this script the links stay in view, stacked
    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    }
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        button.focus();
      }
    });
  }

  // --- a strip that scrolls sideways says so: data-more-left / data-more-right while there is more ---
  function initScrollCues(root) {
    root.querySelectorAll("[data-scroll-cue]").forEach(function (strip) {
      if (strip.dataset.cueReady) return;
      strip.dataset.cueReady = "1";
      function mark() {
        var max = strip.scrollWidth - strip.clientWidth;
        strip.toggleAttribute("data-more-left", strip.scrollLeft > 1);
        strip.toggleAttribute("data-more-right", strip.scrollLeft < max - 1);
      }
      // The current section is scrolled into view within the strip (never the page).
      var current = strip.querySelector('[aria-current="page"]');
      if (current) {
        var left = current.offsetLeft, right = left + current.offsetWidth;
        if (right > strip.scrollLeft + strip.clientWidth) strip.scrollLeft = right - strip.clientWidth + 24;
        else if (left < strip.scrollLeft) strip.scrollLeft = Math.max(0, left - 24);
      }
      strip.addEventListener("scroll", mark, { passive: true });
      window.addEventListener("resize", mark);
      mark();
    });
  }

  // --- countdowns ---
  function fmtLeft(ms) {
    if (ms <= 0) return "closed";
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d > 0) return d + "d " + h + "h " + m + "m";
    return (h > 0 ? h + "h " : "") + m + "m " + sec + "s";
  }
  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-countdown"));
      if (!isNaN(t)) el.textContent = fmtLeft(t - now);
    });
  }

  // --- config editor: line numbers, template picker, error lines ---
  function initEditor(root) {
    root.querySelectorAll("[data-editor]").forEach(function (box) {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      var area = box.querySelector("textarea");
      var gutter = box.querySelector(".gutter");
      var errLines = [];
      function paint() {
        var n = area.value.split("\n").length, out = [];
        for (var i = 1; i <= n; i++) {
          out.push(errLines.indexOf(i) >= 0 ? '<span class="err">' + i + "</span>" : String(i));
        }
        gutter.innerHTML = out.join("\n");
        gutter.scrollTop = area.scrollTop;
      }
      area.addEventListener("input", paint);
      area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
      area.addEventListener("keydown", function (ev) {
        // Tab indents by two spaces (YAML); Escape then Tab leaves the editor, so focus is never trapped.
        if (ev.key === "Tab" && !ev.shiftKey && !area.dataset.escaped) {
          ev.preventDefault();
          var s = area.selectionStart, e = area.selectionEnd;
          area.value = area.value.slice(0, s) + "  " + area.value.slice(e);
          area.selectionStart = area.selectionEnd = s + 2;
          area.dispatchEvent(new Event("input", { bubbles: true }));
        } else if (ev.key === "Escape") {
          area.dataset.escaped = "1";
        } else {
          delete area.dataset.escaped;
        }
      });
      document.body.addEventListener("htmx:afterSwap", function (ev) {
        var res = ev.detail.target.querySelector("[data-error-lines]");
        if (!res && ev.detail.target.hasAttribute("data-error-lines")) res = ev.detail.target;
        if (res && box.contains(area)) {
          errLines = JSON.parse(res.getAttribute("data-error-lines") || "[]");
          paint();
        }
      });
      var picker = document.getElementById(box.getAttribute("data-template-picker"));
      var templates = readJson(box.getAttribute("data-templates")) || {};
      if (picker) {
        picker.addEventListener("change", function () {
          if (!picker.value || !(picker.value in templates)) return;
          area.value = templates[picker.value];
          area.dispatchEvent(new Event("input", { bubbles: true }));
          area.focus();
        });
      }
      paint();
    });
  }

  // --- charts (Chart.js) ---
  var PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f08c00", "#c92a2a", "#5c7cfa", "#66a80f", "#862e9c"];
  // A log axis labelled at 1, 2 and 5 times a power of ten, short ("0.2", "5e-6"), not at every minor tick.
  function logTick(v) {
    var e = Math.floor(Math.log10(v) + 1e-9), m = Math.round(v / Math.pow(10, e));
    if ([1, 2, 5].indexOf(m) < 0 || Math.abs(v / Math.pow(10, e) - m) > 1e-6) return "";
    return Math.abs(e) >= 4 ? m + "e" + e : String(Number((m * Math.pow(10, e)).toPrecision(1)));
  }
  function initCharts(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.ready) return;
      canvas.dataset.ready = "1";
      var spec = readJson(canvas.getAttribute("data-chart"));
      if (!spec) return;
      var datasets = spec.series.map(function (s, i) {
        // A sweep's or an ensemble's series name their variant's colour; the kept one is bold.
        var color = PALETTE[(s.color != null ? s.color : i) % PALETTE.length];
        return {
          label: s.label, data: s.data, borderColor: color, backgroundColor: color,
          borderDash: s.dashed ? [6, 4] : [], tension: 0.2, pointRadius: spec.type === "scatter" ? 6 : 2, spanGaps: true,
          borderWidth: s.bold ? 4 : 2,
        };
      });
      new Chart(canvas, {
        type: spec.type || "line",
        data: { labels: spec.labels, datasets: datasets },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
          scales: {
            x: { title: { display: true, text: spec.xlabel || "epoch" } },
            y: {
              type: spec.log ? "logarithmic" : "linear", title: { display: !!spec.ylabel, text: spec.ylabel || "" },
              ticks: spec.log ? { callback: logTick } : {},
            },
          },
        },
      });
    });
  }

  function initAll(root) {
    initScrollCues(root);
    initEditor(root);
    initCharts(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    initMenu();
    initAll(document);
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    document.body.addEventListener("htmx:afterSettle", function (ev) { initAll(ev.detail.elt); });
    // A form that undoes something (cancel) asks first; delegated, so rows htmx swaps in ask too.
    document.addEventListener("submit", function (ev) {
      var form = ev.target.closest ? ev.target.closest("form[data-confirm]") : null;
      if (form && !window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
    // "Tick every variant": a button shown only with scripts, ticking its form's boxes of that name
    // (those not disabled: a variant over the budget is listed, not offered).
    document.querySelectorAll("[data-check-all]").forEach(function (btn) {
      btn.hidden = false;
      btn.addEventListener("click", function () {
        btn.form.querySelectorAll('input[type="checkbox"][name="' + btn.getAttribute("data-check-all") + '"]')
          .forEach(function (box) { if (!box.disabled) box.checked = true; });
      });
    });
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var el = document.getElementById(btn.getAttribute("data-copy"));
        if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim()).then(function () { btn.textContent = "Copied"; }, function () {});
      });
    });
  });
})();

// Staff "New competition": show only the fieldset of the chosen data source.
document.addEventListener("DOMContentLoaded", function () {
  var sw = document.querySelector("[data-source-switch]");
  if (!sw) return;
  function sync() {
    var checked = sw.querySelector("input:checked");
    document.querySelectorAll("[data-source]").forEach(function (fs) {
      // A fieldset may serve several sources: data-source="upload images".
      fs.hidden = !checked || fs.getAttribute("data-source").split(" ").indexOf(checked.value) < 0;
    });
  }
  sw.addEventListener("change", sync);
  sync();
});
