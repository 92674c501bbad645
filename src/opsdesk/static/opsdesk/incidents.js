// The incident queue and detail page: SLA countdowns that stay current, keyboard shortcuts, quick-action
// messages, and the dashboard's MTTA/MTTR trend. No inline scripts (the CSP forbids them): texts come
// from data- attributes rendered in the page's language, data from json_script.
(function () {
  "use strict";

  const TICK_MS = 30000;

  // --- SLA countdowns ---------------------------------------------------------------------------------
  function texts() {
    const el = document.getElementById("sla-texts");
    return el ? el.dataset : null;
  }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, key) { return String(values[key]); });
  }

  function duration(t, seconds) {
    const minutes = Math.floor(Math.abs(seconds) / 60);
    const d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    if (d) return fill(t.days, { d: d, h: h });
    if (h) return fill(t.hours, { h: h, m: m });
    if (m) return fill(t.minutes, { m: m });
    return t.less;
  }

  // A running clock's text is rewritten from its due instant; it turns red once the instant passes.
  function tick(root) {
    const t = texts();
    if (!t) return;
    const now = Date.now();
    (root || document).querySelectorAll(".sla-countdown[data-sla-due]").forEach(function (el) {
      if (!el.dataset.slaDue) return;
      const due = Date.parse(el.dataset.slaDue);
      if (isNaN(due)) return;
      const left = (due - now) / 1000;
      if (left > 0 && !el.dataset.slaBreached) {
        el.textContent = fill(t.left, { t: duration(t, left) });
      } else {
        el.textContent = fill(t.ago, { t: duration(t, -left) });
        el.classList.remove("sla-green", "sla-amber");
        el.classList.add("sla-red");
        const box = el.closest(".sla-box");
        if (box) { box.classList.remove("sla-box-green", "sla-box-amber"); box.classList.add("sla-box-red"); }
      }
    });
  }
  setInterval(tick, TICK_MS);
  document.addEventListener("DOMContentLoaded", function () { tick(document); });
  document.body.addEventListener("htmx:afterSwap", function (event) { tick(event.target); });

  // --- messages sent with quick actions (HX-Trigger: {"opsdesk:notice": {"text", "level"}}) ------------
  document.body.addEventListener("opsdesk:notice", function (event) {
    const area = document.getElementById("messages");
    if (!area || !event.detail || !event.detail.text) return;
    const alert = document.createElement("div");
    alert.className = "alert alert-" + (event.detail.level || "success") + " alert-dismissible fade show py-2";
    alert.setAttribute("role", "alert");
    alert.textContent = event.detail.text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close py-2";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", area.dataset.msgClose || "Close");
    alert.appendChild(close);
    area.replaceChildren(alert);
  });

  // --- the queue: selection and keyboard shortcuts ----------------------------------------------------
  let selected = null; // data-incident of the selected row; survives the row being swapped by htmx

  function rows() {
    return Array.from(document.querySelectorAll("#record-table tr.incident-row"));
  }

  function current() {
    return selected ? document.querySelector('#record-table tr[data-incident="' + selected + '"]') : null;
  }

  function select(row) {
    rows().forEach(function (r) { r.classList.remove("row-selected"); r.removeAttribute("aria-current"); });
    if (!row) { selected = null; return; }
    selected = row.dataset.incident;
    row.classList.add("row-selected");
    row.setAttribute("aria-current", "true");
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next]);
  }

  // Through htmx.ajax rather than a click: a row htmx has just swapped in may not have its buttons
  // wired yet, and a fast key press must not be lost.
  function quick(action) {
    const row = current();
    const button = row && row.querySelector('[data-quick="' + action + '"]');
    if (row && !button) {  // say why nothing happens rather than ignoring the key
      const table = row.closest(".incident-table");
      document.body.dispatchEvent(new CustomEvent("opsdesk:notice", { detail: {
        text: table && table.dataset.msgUnavailable, level: "warning" } }));
      return;
    }
    if (!button || typeof htmx === "undefined") return;
    const post = button.getAttribute("hx-post");
    htmx.ajax(post ? "POST" : "GET", post || button.getAttribute("hx-get"),
              { source: button, target: row, swap: "outerHTML" });
  }

  function help() {
    const modal = document.getElementById("shortcut-help");
    if (modal && window.bootstrap) window.bootstrap.Modal.getOrCreateInstance(modal).show();
  }

  // Capture phase, before app.js: on the queue these keys mean queue actions.
  window.addEventListener("keydown", function (event) {
    if (!document.querySelector(".incident-table")) return;
    const target = event.target;
    if (target.matches("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape" && target.closest(".quick-resolve")) {
        const cancel = target.closest(".quick-resolve").querySelector("[data-quick-cancel]");
        if (cancel) { event.preventDefault(); cancel.click(); }
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector(".modal.show")) return;
    let handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": {
        if (target.matches("a, button")) { handled = false; break; }
        const row = current();
        if (row) window.location.assign(row.dataset.url); else handled = false;
        break;
      }
      case "a": quick("acknowledge"); break;
      case "t": quick("take"); break;
      case "r": quick("resolve"); break;
      case "x": {
        const box = current() && current().querySelector('input[name="pk"]');
        if (box) box.click(); else handled = false;
        break;
      }
      case "/": {
        const box = document.getElementById("list-q");
        if (box) box.focus(); else handled = false;
        break;
      }
      case "?": help(); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); event.stopPropagation(); }
  }, true);

  // A click on a row selects it (links and buttons still do their own thing).
  document.addEventListener("click", function (event) {
    const row = event.target.closest("#record-table tr.incident-row");
    if (row) select(row);
    const all = event.target.closest("#select-all");
    if (all) {
      document.querySelectorAll('#record-table input[name="pk"]').forEach(function (box) { box.checked = all.checked; });
    }
  });

  // After the settle, not the swap: htmx settles a swapped row by giving it back the class attribute
  // the server sent, which would drop a selection made at swap time (a race the browser test met).
  document.body.addEventListener("htmx:afterSettle", function (event) {
    const row = current();
    if (row) { row.classList.add("row-selected"); row.setAttribute("aria-current", "true"); }
    // The quick resolve form opened: start in its first field.
    const form = event.target.querySelector && event.target.querySelector(".quick-resolve select");
    if (form) form.focus();
  });

  // Tooltips that say why (a priority set by hand carries its reason).
  function tooltips(root) {
    if (!window.bootstrap) return;
    root.querySelectorAll('[data-bs-toggle="tooltip"]').forEach(function (el) {
      window.bootstrap.Tooltip.getOrCreateInstance(el);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tooltips(document); });
  document.body.addEventListener("htmx:afterSwap", function (event) { tooltips(event.target); });

  // --- dashboard: MTTA / MTTR trend -------------------------------------------------------------------
  function trendChart() {
    const canvas = document.getElementById("incident-trend");
    const source = document.getElementById("incident-trend-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    const data = JSON.parse(source.textContent);
    const hasData = data.mtta.concat(data.mttr).some(function (v) { return v !== null; });
    if (!hasData) {
      const empty = document.createElement("p");
      empty.className = "chart-empty text-body-secondary small text-center my-5";
      empty.textContent = canvas.dataset.emptyText || "";
      canvas.replaceWith(empty);
      return;
    }
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: canvas.dataset.mttaLabel, data: data.mtta, borderColor: "#0d6efd", backgroundColor: "#0d6efd",
            spanGaps: true, cubicInterpolationMode: "monotone", pointRadius: 2 },
          { label: canvas.dataset.mttrLabel, data: data.mttr, borderColor: "#dc3545", backgroundColor: "#dc3545",
            spanGaps: true, cubicInterpolationMode: "monotone", pointRadius: 2, yAxisID: "y2" },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: {
          y: { beginAtZero: true, position: "left", title: { display: true, text: canvas.dataset.mttaAxis } },
          y2: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
                title: { display: true, text: canvas.dataset.mttrAxis } },
        },
      },
    });
  }
  document.addEventListener("DOMContentLoaded", trendChart);
})();
