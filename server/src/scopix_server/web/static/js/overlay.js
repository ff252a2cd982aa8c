// The boxes drawn over a picture: OCR text regions (polygons) and faces, in an SVG whose
// coordinates are the API's own (0-1 of the upright image), so no scaling code is needed.
// Hover or keyboard focus shows a region's text and confidence.

import { h, percent } from "./dom.js";

function tooltip() {
  return document.getElementById("tooltip");
}

function show(target, text) {
  const tip = tooltip();
  tip.textContent = text;
  tip.hidden = false;
  const box = target.getBoundingClientRect();
  tip.style.left = `${Math.round(window.scrollX + box.left)}px`;
  tip.style.top = `${Math.round(window.scrollY + box.bottom + 6)}px`;
}

function hide() {
  tooltip().hidden = true;
}

function pointsOf(region) {
  const polygon = Array.isArray(region.polygon) && region.polygon.length >= 3 ? region.polygon : null;
  if (polygon) return polygon.map(([x, y]) => `${x},${y}`).join(" ");
  const { x, y, width, height } = region.bbox;
  return `${x},${y} ${x + width},${y} ${x + width},${y + height} ${x},${y + height}`;
}

// Beyond this many boxes (a scanned page), only the first are Tab stops: the table of text
// regions beside the picture lists every one.
const FOCUSABLE = 60;

function shape(kind, points, label, focusable) {
  const el = h("svg:polygon", {
    class: kind,
    points,
    tabindex: focusable ? 0 : null,
    role: "img",
    "aria-label": label,
    "vector-effect": "non-scaling-stroke",
  });
  el.append(h("svg:title", {}, label));
  const on = () => show(el, label);
  el.addEventListener("mouseenter", on);
  el.addEventListener("focus", on);
  el.addEventListener("mouseleave", hide);
  el.addEventListener("blur", hide);
  return el;
}

/** An SVG over the picture with ``regions`` (text) and ``faces`` (both may be empty). */
export function overlay(regions, faces) {
  const svg = h("svg:svg", {
    class: "overlay",
    viewBox: "0 0 1 1",
    preserveAspectRatio: "none",
    "aria-label": `${regions.length} text region${regions.length === 1 ? "" : "s"}, ${faces.length} face${faces.length === 1 ? "" : "s"}`,
    role: "group",
  });
  faces.forEach((face, index) => {
    const { x, y, width, height } = face.bbox;
    const points = `${x},${y} ${x + width},${y} ${x + width},${y + height} ${x},${y + height}`;
    svg.append(shape("face", points, `Face ${index + 1}, confidence ${percent(face.confidence)}`, index < FOCUSABLE));
  });
  regions.forEach((region, index) => {
    const label = `Text “${region.text}”, confidence ${percent(region.confidence)}`;
    svg.append(shape("region", pointsOf(region), label, faces.length + index < FOCUSABLE));
  });
  return svg;
}
