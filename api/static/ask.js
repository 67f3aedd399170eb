// The "Ask the city" page: the map (district outlines, the layer the question is near with
// its radius around each place, a pin per ticket) and the counts-by-category chart, from the
// JSON the server rendered. Texts go into popups and tooltips as text, never as HTML.
(function () {
  "use strict";

  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  function popup(pin) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = "/tickets/" + encodeURIComponent(String(pin.id));
    link.textContent = pin.reference;
    var title = document.createElement("div");
    title.textContent = pin.title;
    var meta = document.createElement("small");
    meta.textContent = pin.category + " · " + pin.status;
    box.append(link, title, meta);
    return box;
  }

  function tiles(map, data) {
    if (!data.tiles) { return; }
    var layer = L.tileLayer(data.tiles, { maxZoom: 19 });
    layer.getAttribution = function () { return ""; };
    layer.addTo(map);
    if (data.attribution) {
      map.attributionControl.setPrefix(false);
      map.attributionControl.getContainer().append(text(data.attribution));
    }
  }

  // The places of the layer, and the area within the radius of each (a circle around a
  // point; a polygon's own outline, drawn thick by the radius, stands for its surroundings).
  // Returns the bounds of the places with their radius (computed without the map, which has
  // no view yet).
  function places(map, layer) {
    var bounds = L.latLngBounds([]);
    var circles = L.layerGroup();
    var shapes = L.geoJSON(layer.places, {
      style: { color: "#2a9d8f", weight: 2, fillOpacity: 0.25 },
      pointToLayer: function (feature, latlng) {
        circles.addLayer(L.circle(latlng, { radius: layer.radius_m, color: "#2a9d8f", weight: 1,
                                            fillOpacity: 0.08, interactive: false }));
        bounds.extend(latlng.toBounds(2 * layer.radius_m));
        return L.circleMarker(latlng, { radius: 5, color: "#2a9d8f", weight: 2, fillOpacity: 0.9 });
      },
      onEachFeature: function (feature, shape) {
        shape.bindTooltip(text(feature.properties.name + " (" + layer.name + ")"));
        if (shape.getBounds) { bounds.extend(shape.getBounds()); }
      }
    });
    circles.addTo(map);
    shapes.addTo(map);
    return bounds;
  }

  function draw(element) {
    var data = JSON.parse(document.getElementById(element.dataset.askMap).textContent);
    var map = L.map(element, { attributionControl: Boolean(data.tiles) });
    tiles(map, data);
    var districts = L.geoJSON(data.districts, {
      style: { color: "#457b9d", weight: 1, fillOpacity: 0.04 },
      onEachFeature: function (feature, shape) { shape.bindTooltip(text(feature.properties.name)); }
    }).addTo(map);
    // the view: the tickets found; without any, the layer's places; else the whole city
    var bounds = districts.getBounds();
    if (data.layer) {
      bounds = places(map, data.layer);
      element.dataset.layer = data.layer.name;
    }
    var pins = L.featureGroup(data.pins.map(function (pin) {
      return L.circleMarker([pin.lat, pin.lon], { radius: 6, color: "#b00020", weight: 2 })
        .bindPopup(popup(pin));
    })).addTo(map);
    if (data.pins.length) { bounds = pins.getBounds().pad(0.3); }
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
    } else {
      map.setView(data.center, 12);
    }
    element.dataset.ready = String(data.pins.length);
  }

  function chart() {
    var canvas = document.getElementById("ask-chart");
    if (!canvas) { return; }
    var data = JSON.parse(document.getElementById("ask-chart-data").textContent);
    new Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: canvas.dataset.label || "tickets", data: data.counts, backgroundColor: "#457b9d" }] },
      options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } },
                 scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
    canvas.dataset.ready = "true";
  }

  function start() {
    document.querySelectorAll("[data-ask-map]").forEach(draw);
    chart();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
