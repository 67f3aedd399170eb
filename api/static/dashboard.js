// The trend chart: tickets created and resolved per day, from the JSON the server rendered.
(function () {
  "use strict";

  function start() {
    var canvas = document.getElementById("trend");
    if (!canvas) { return; }
    var data = JSON.parse(document.getElementById("trend-data").textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          { label: canvas.dataset.created || "created", data: data.created, borderColor: "#1d3557", tension: 0.2 },
          { label: canvas.dataset.resolved || "resolved", data: data.resolved, borderColor: "#2a9d8f", tension: 0.2 }
        ]
      },
      options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
    canvas.dataset.ready = "true";
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
