// The compliance trend on the configuration audit dashboard: <canvas data-trend="overall|rules"
// data-source="json-script-id">. The data (labels, overall, rules[{label, values}]) comes from json_script.
(function () {
  "use strict";

  const palette = ["#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#6c757d",
                   "#0dcaf0", "#ffc107"];

  function datasets(kind, data) {
    if (kind === "overall") {
      return [{ label: data.overall_label, data: data.overall, borderColor: "#0d6efd",
                backgroundColor: "rgba(13, 110, 253, .12)", fill: true, tension: 0, spanGaps: true }];
    }
    return data.rules.map(function (rule, index) {
      const colour = palette[index % palette.length];
      return { label: rule.label, data: rule.values, borderColor: colour, backgroundColor: colour,
               tension: 0, spanGaps: true, pointRadius: 2 };
    });
  }

  function draw(canvas) {
    if (typeof Chart === "undefined" || canvas.dataset.drawn) return;
    const source = document.getElementById(canvas.dataset.source);
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const kind = canvas.dataset.trend;
    new Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets(kind, data) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { min: 0, max: 100, ticks: { callback: function (value) { return value + " %"; } } } },
        plugins: {
          legend: { display: kind === "rules", position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (item) { return item.dataset.label + ": " + item.formattedValue + " %"; } } },
        },
      },
    });
    canvas.dataset.drawn = "1";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-trend]").forEach(draw);
  });
})();
