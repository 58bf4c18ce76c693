// Recall-vs-QPS plots as hand-written SVG, and reading peer curves from
// peerbench's JSON lines, for `omendb bench --plot/--compare`.
#pragma once

#include <string>
#include <vector>

#include "omendb/status.h"

namespace omendb::cli {

// One measured operating point of an engine.
struct PlotPoint {
  double recall = 0.0;  // recall@k in [0, 1]
  double qps = 0.0;     // queries per second, > 0 to be drawn
  std::string label;    // shown in the point's tooltip, e.g. "ef=64"
};

// One engine's curve. Points are drawn in order of increasing recall.
struct PlotSeries {
  std::string name;  // legend text
  std::vector<PlotPoint> points;
};

// Text around the plot.
struct PlotText {
  std::string title;
  std::string subtitle;  // second line under the title; may be empty
  std::string x_label = "recall@10";
  std::string y_label = "queries per second (log scale)";
};

// Renders `series` as a standalone SVG document: x = recall (linear, from a
// rounded-down minimum recall to 1.0), y = QPS (log10 scale with 1-2-5 ticks),
// axes, grid, tick labels, a legend, and one colour per series (the first
// series gets the first colour; colours repeat after ten). Points with a
// non-positive or non-finite QPS or recall are skipped. Never fails: with
// nothing drawable it still produces a valid, empty chart.
std::string RenderRecallQpsSvg(const std::vector<PlotSeries>& series, const PlotText& text);

// Reads peerbench-style JSON lines: every line whose first non-blank
// character is '{' is parsed; objects with "phase":"search" and numeric
// "recall" and "qps" become points of the series named by "engine" (and by
// "dataset" too if the file holds several data sets). Other lines and other
// objects are ignored. The point label is "ef=<ef>" (or nprobe=...) when
// present. Errors: NotFound / IOError for the file, InvalidArgument naming
// file and line for a malformed JSON line, InvalidArgument if the file holds
// no search results at all.
Result<std::vector<PlotSeries>> ReadPeerCurves(const std::string& path);

}  // namespace omendb::cli
