/**
 * The d3 scales the charts use, standing in for `victory-vendor/d3-scale` (see vite.config.ts).
 * Recharts imports that module whole (`import * as`) to look scales up by name, which bundles
 * every d3 scale, the time scales with d3-time and d3-time-format among them; the app's charts
 * draw only category (point, band) and number (linear) axes. A chart given another scale type
 * falls back to a point scale (Recharts' own rule for an unknown name).
 */
export { scaleBand, scaleLinear, scalePoint } from 'd3-scale'
