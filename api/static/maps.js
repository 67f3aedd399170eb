// Draws every element with data-map="<id of a JSON script>" as a Leaflet map: the city's
// district outlines, a pin per ticket, and tiles only when the server configured a tile URL.
// Every text from tickets goes into the popups as text (textContent), never as HTML.
(function () {
  "use strict";

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

  function draw(element) {
    var data = JSON.parse(document.getElementById(element.dataset.map).textContent);
    var map = L.map(element, { attributionControl: Boolean(data.tiles) });
    if (data.tiles) {
      var layer = L.tileLayer(data.tiles, { maxZoom: 19 });
      layer.getAttribution = function () { return ""; };
      layer.addTo(map);
      if (data.attribution) {
        map.attributionControl.setPrefix(false);
        var note = document.createElement("span");
        note.textContent = data.attribution;
        map.attributionControl.getContainer().append(note);
      }
    }
    var districts = L.geoJSON(data.districts, {
      style: { color: "#457b9d", weight: 1, fillOpacity: 0.05 },
      onEachFeature: function (feature, shape) {
        var name = document.createElement("span");
        name.textContent = feature.properties.name;
        shape.bindTooltip(name);
      }
    }).addTo(map);
    var pins = L.featureGroup(data.pins.map(function (pin) {
      return L.circleMarker([pin.lat, pin.lon], { radius: 7, color: "#b00020", weight: 2 })
        .bindPopup(popup(pin));
    })).addTo(map);
    // a ticket's map centres on its pin; the dashboard shows the districts and every pin
    var bounds = districts.getBounds();
    if (data.pins.length) { bounds = bounds.isValid() ? bounds.extend(pins.getBounds()) : pins.getBounds(); }
    if (element.dataset.focus === "pin" && data.pins.length) {
      map.setView([data.pins[0].lat, data.pins[0].lon], 15);
    } else if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
    } else {
      map.setView(data.center, 12);
    }
    element.dataset.ready = String(data.pins.length);
  }

  function start() {
    document.querySelectorAll("[data-map]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
