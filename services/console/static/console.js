// herald console: small enhancements over pages that work without JavaScript.
(function () {
  "use strict";

  // A <select data-autosubmit> sends its form when it changes (the form's button stays for no-JS use).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });

  // A chart is a <figure class="chart" data-chart='{"labels": [...], "series": [{"label", "data"}]}'>
  // with a table of the same figures inside; with Chart.js loaded the table gives way to a canvas.
  function drawCharts(root) {
    if (typeof Chart === "undefined") { return; }
    var palette = ["#1f5fbf", "#13734b", "#b3261e", "#7a5a00"];
    root.querySelectorAll("figure.chart[data-chart]:not(.drawn)").forEach(function (figure) {
      var spec = JSON.parse(figure.getAttribute("data-chart"));
      // Chart.js sizes a canvas to its box: a box of fixed height, or the chart grows without end.
      var box = document.createElement("div");
      box.className = "chart-canvas";
      var canvas = document.createElement("canvas");
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", figure.getAttribute("data-chart-label") || "chart");
      box.appendChild(canvas);
      figure.insertBefore(box, figure.firstChild);
      figure.classList.add("drawn");
      new Chart(canvas, {
        type: spec.type || "bar",
        data: {
          labels: spec.labels,
          datasets: spec.series.map(function (s, i) {
            return { label: s.label, data: s.data, backgroundColor: palette[i % palette.length], borderColor: palette[i % palette.length] };
          })
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { legend: { display: spec.series.length > 1 } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
        }
      });
    });
  }

  function loadChartLibrary(then) {
    if (typeof Chart !== "undefined") { then(); return; }
    if (!document.querySelector("figure.chart[data-chart]")) { return; }
    var script = document.createElement("script");
    script.src = "/static/vendor/chart-4.5.1.umd.min.js";
    script.onload = then;
    document.head.appendChild(script);
  }

  document.addEventListener("DOMContentLoaded", function () {
    loadChartLibrary(function () { drawCharts(document); });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    loadChartLibrary(function () { drawCharts(event.target); });
  });
})();
