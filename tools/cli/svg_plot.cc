#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "util/json.h"

namespace omendb::cli {
namespace {

// Canvas and plot-area geometry in SVG user units (pixels at 100 %).
constexpr double kWidth = 860, kHeight = 560;
constexpr double kLeft = 90, kRight = 30, kTop = 72, kBottom = 70;
constexpr double kPlotW = kWidth - kLeft - kRight;
constexpr double kPlotH = kHeight - kTop - kBottom;

// Tableau-10: distinguishable and colour-blind tolerant. The first series
// (OmenDB itself in `omendb bench`) gets the strong red.
const char* const kColours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Coordinates are rounded to 0.1 px: plenty for a screen, and keeps files small.
std::string Px(double v) { return Fmt("%.1f", v); }

// "500", "2k", "1.5M": QPS tick labels.
std::string QpsLabel(double v) {
  if (v >= 1e6) return Fmt("%gM", v / 1e6);
  if (v >= 1e3) return Fmt("%gk", v / 1e3);
  return Fmt("%g", v);
}

bool Drawable(const PlotPoint& p) {
  return std::isfinite(p.qps) && p.qps > 0 && std::isfinite(p.recall) && p.recall >= 0;
}

// Largest value of the form {1,2,5} * 10^e that is <= v (v > 0).
double NiceFloor(double v) {
  double decade = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {5.0, 2.0, 1.0}) {
    if (m * decade <= v * (1 + 1e-9)) return m * decade;
  }
  return decade;
}

// Smallest value of the form {1,2,5} * 10^e that is >= v (v > 0).
double NiceCeil(double v) {
  double decade = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * decade >= v * (1 - 1e-9)) return m * decade;
  }
  return 10 * decade;
}

// Member `key` of a JSON object if it is a string, else "".
std::string GetString(const util::JsonValue& obj, std::string_view key) {
  const util::JsonValue* v = obj.Find(key);
  return v != nullptr && v->type() == util::JsonValue::Type::kString ? v->string_value()
                                                                      : std::string();
}

// Member `key` of a JSON object if it is a number, else NaN (so absent and
// null values fail the callers' isfinite checks).
double GetNumber(const util::JsonValue& obj, std::string_view key) {
  const util::JsonValue* v = obj.Find(key);
  return v != nullptr && v->is_number() ? v->number_value() : NAN;
}

}  // namespace

std::string RenderRecallQpsSvg(const std::vector<PlotSeries>& series, const PlotText& text) {
  // Data ranges over drawable points only.
  double min_recall = 1.0, min_qps = INFINITY, max_qps = 0;
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      if (!Drawable(p)) continue;
      min_recall = std::min(min_recall, p.recall);
      min_qps = std::min(min_qps, p.qps);
      max_qps = std::max(max_qps, p.qps);
    }
  }
  if (max_qps <= 0) {  // nothing to draw: a sensible empty frame
    min_qps = 100;
    max_qps = 10000;
  }
  // x: recall from a value rounded down to 0.05 (0.01 near the top) to 1.0.
  double x_lo = std::floor(min_recall * 20 - 1e-9) / 20;
  if (min_recall >= 0.99) x_lo = 0.95;
  x_lo = std::clamp(x_lo, 0.0, 0.95);
  const double x_hi = 1.0;
  // A little room right of 1.0 so points at recall 1 are not cut by the frame.
  const double x_span = (x_hi - x_lo) * 1.02;
  // About 5 to 10 vertical grid lines whatever the range.
  const double x_range = x_hi - x_lo - 1e-9;  // 1.0 - 0.85 is 0.15000000000000002
  const double x_step = x_range <= 0.06   ? 0.01
                        : x_range <= 0.15 ? 0.02
                        : x_range <= 0.4  ? 0.05
                                          : 0.1;

  // y: log10(QPS) between 1-2-5 values just outside the data.
  double y_lo = NiceFloor(min_qps * 0.95), y_hi = NiceCeil(max_qps * 1.05);
  if (y_hi <= y_lo) y_hi = y_lo * 10;
  const double ly_lo = std::log10(y_lo), ly_hi = std::log10(y_hi);

  auto X = [&](double recall) { return kLeft + (recall - x_lo) / x_span * kPlotW; };
  auto Y = [&](double qps) {
    return kTop + kPlotH - (std::log10(qps) - ly_lo) / (ly_hi - ly_lo) * kPlotH;
  };

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Px(kWidth) + "\" height=\"" +
       Px(kHeight) + "\" viewBox=\"0 0 " + Px(kWidth) + " " + Px(kHeight) +
       "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + Px(kWidth / 2) +
       "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
       "font-weight=\"bold\">" +
       Escape(text.title) + "</text>\n";
  if (!text.subtitle.empty()) {
    o += "<text x=\"" + Px(kWidth / 2) + "\" y=\"48\" text-anchor=\"middle\" fill=\"#555\">" +
         Escape(text.subtitle) + "</text>\n";
  }

  // Grid and ticks.
  o += "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n";
  std::string labels;
  for (int i = 0;; ++i) {
    double r = x_lo + i * x_step;
    if (r > x_hi + 1e-9) break;
    double x = X(r);
    o += "<line x1=\"" + Px(x) + "\" y1=\"" + Px(kTop) + "\" x2=\"" + Px(x) + "\" y2=\"" +
         Px(kTop + kPlotH) + "\"/>\n";
    labels += "<line x1=\"" + Px(x) + "\" y1=\"" + Px(kTop + kPlotH) + "\" x2=\"" + Px(x) +
              "\" y2=\"" + Px(kTop + kPlotH + 5) + "\" stroke=\"black\"/>\n";
    labels += "<text x=\"" + Px(x) + "\" y=\"" + Px(kTop + kPlotH + 19) +
              "\" text-anchor=\"middle\">" + Fmt("%.2f", r) + "</text>\n";
  }
  // 1-2-5 ticks per decade when few decades are shown, decades only otherwise.
  const bool fine = ly_hi - ly_lo <= 3.01;
  for (int e = static_cast<int>(std::floor(ly_lo)); e <= static_cast<int>(std::ceil(ly_hi)); ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (!fine && m != 1.0) continue;
      double v = m * std::pow(10.0, e);
      if (v < y_lo * (1 - 1e-9) || v > y_hi * (1 + 1e-9)) continue;
      double y = Y(v);
      o += "<line x1=\"" + Px(kLeft) + "\" y1=\"" + Px(y) + "\" x2=\"" + Px(kLeft + kPlotW) +
           "\" y2=\"" + Px(y) + "\"/>\n";
      labels += "<line x1=\"" + Px(kLeft - 5) + "\" y1=\"" + Px(y) + "\" x2=\"" + Px(kLeft) +
                "\" y2=\"" + Px(y) + "\" stroke=\"black\"/>\n";
      labels += "<text x=\"" + Px(kLeft - 8) + "\" y=\"" + Px(y + 4) + "\" text-anchor=\"end\">" +
                QpsLabel(v) + "</text>\n";
    }
  }
  o += "</g>\n";
  // Recall targets the summary table reports, as dashed guides.
  for (double target : {0.90, 0.95, 0.99}) {
    if (target <= x_lo) continue;
    double x = X(target);
    o += "<line x1=\"" + Px(x) + "\" y1=\"" + Px(kTop) + "\" x2=\"" + Px(x) + "\" y2=\"" +
         Px(kTop + kPlotH) + "\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\n";
  }
  o += labels;
  o += "<rect x=\"" + Px(kLeft) + "\" y=\"" + Px(kTop) + "\" width=\"" + Px(kPlotW) +
       "\" height=\"" + Px(kPlotH) + "\" fill=\"none\" stroke=\"black\"/>\n";
  o += "<text x=\"" + Px(kLeft + kPlotW / 2) + "\" y=\"" + Px(kHeight - 22) +
       "\" text-anchor=\"middle\" font-size=\"13\">" + Escape(text.x_label) + "</text>\n";
  o += "<text transform=\"translate(24 " + Px(kTop + kPlotH / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">" + Escape(text.y_label) +
       "</text>\n";

  // Curves, clipped to the plot area (a recall below x_lo would stray left).
  o += "<clipPath id=\"plot\"><rect x=\"" + Px(kLeft) + "\" y=\"" + Px(kTop) + "\" width=\"" +
       Px(kPlotW) + "\" height=\"" + Px(kPlotH) + "\"/></clipPath>\n";
  std::vector<const PlotSeries*> legend;
  for (size_t si = 0; si < series.size(); ++si) {
    std::vector<PlotPoint> pts;
    for (const auto& p : series[si].points) {
      if (Drawable(p)) pts.push_back(p);
    }
    if (pts.empty()) continue;
    std::stable_sort(pts.begin(), pts.end(),
                     [](const PlotPoint& a, const PlotPoint& b) { return a.recall < b.recall; });
    const char* colour = kColours[legend.size() % std::size(kColours)];
    legend.push_back(&series[si]);
    o += "<g clip-path=\"url(#plot)\" stroke=\"" + std::string(colour) + "\" fill=\"" + colour +
         "\">\n<polyline fill=\"none\" stroke-width=\"2\" points=\"";
    for (const auto& p : pts) o += Px(X(p.recall)) + "," + Px(Y(p.qps)) + " ";
    o += "\"/>\n";
    for (const auto& p : pts) {
      o += "<circle cx=\"" + Px(X(p.recall)) + "\" cy=\"" + Px(Y(p.qps)) + "\" r=\"3.5\"><title>";
      o += Escape(series[si].name);
      if (!p.label.empty()) o += " " + Escape(p.label);
      o += ": recall " + Fmt("%.4f", p.recall) + ", " + Fmt("%.0f", p.qps) +
           " QPS</title></circle>\n";
    }
    o += "</g>\n";
  }

  // Legend in the lower-left corner: recall-vs-QPS curves fall from upper
  // left to lower right, so that corner is the one they leave empty.
  if (!legend.empty()) {
    const double row_h = 18, pad = 8;
    size_t longest = 0;
    for (const auto* s : legend) longest = std::max(longest, s->name.size());
    const double box_w = 44 + 7.0 * static_cast<double>(longest) + pad;
    const double box_h = pad * 2 + row_h * static_cast<double>(legend.size()) - 4;
    const double bx = kLeft + 10, by = kTop + kPlotH - 10 - box_h;
    o += "<rect x=\"" + Px(bx) + "\" y=\"" + Px(by) + "\" width=\"" + Px(box_w) + "\" height=\"" +
         Px(box_h) + "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n";
    for (size_t i = 0; i < legend.size(); ++i) {
      const char* colour = kColours[i % std::size(kColours)];
      double cy = by + pad + row_h * static_cast<double>(i) + 6;
      o += "<line x1=\"" + Px(bx + pad) + "\" y1=\"" + Px(cy) + "\" x2=\"" + Px(bx + pad + 24) +
           "\" y2=\"" + Px(cy) + "\" stroke=\"" + colour + "\" stroke-width=\"2\"/>";
      o += "<circle cx=\"" + Px(bx + pad + 12) + "\" cy=\"" + Px(cy) + "\" r=\"3.5\" fill=\"" +
           colour + "\"/>";
      o += "<text x=\"" + Px(bx + pad + 32) + "\" y=\"" + Px(cy + 4) + "\">" +
           Escape(legend[i]->name) + "</text>\n";
    }
  }
  o += "</svg>\n";
  return o;
}

Result<std::vector<PlotSeries>> ReadPeerCurves(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": no such file");
  std::ifstream in(path);
  if (!in) return Status::IOError(path + ": cannot open");

  struct Row {
    std::string engine, dataset;
    PlotPoint point;
  };
  std::vector<Row> rows;
  std::set<std::string> datasets;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] != '{') continue;  // table text, blank lines
    auto obj = util::ParseJson(std::string_view(line).substr(first));
    if (!obj.ok()) return obj.status().WithContext(path + ":" + std::to_string(line_no));
    if (GetString(*obj, "phase") != "search") continue;
    std::string engine = GetString(*obj, "engine");
    double recall = GetNumber(*obj, "recall");
    double qps = GetNumber(*obj, "qps");
    if (engine.empty() || !std::isfinite(recall) || !std::isfinite(qps)) continue;
    Row r;
    r.engine = engine;
    r.dataset = GetString(*obj, "dataset");
    r.point.recall = recall;
    r.point.qps = qps;
    for (const char* knob : {"ef", "nprobe"}) {
      double v = GetNumber(*obj, knob);
      if (std::isfinite(v)) {
        r.point.label = std::string(knob) + "=" + Fmt("%g", v);
        break;
      }
    }
    datasets.insert(r.dataset);
    rows.push_back(std::move(r));
  }
  if (in.bad()) return Status::IOError(path + ": read failed");
  if (rows.empty()) {
    return Status::InvalidArgument(path +
                                   ": no \"phase\":\"search\" results with engine, recall "
                                   "and qps (is it peerbench or omendb bench --json output?)");
  }
  // One series per engine (per engine and data set when several are mixed),
  // in order of first appearance.
  std::vector<PlotSeries> out;
  std::map<std::string, size_t> index;
  for (auto& r : rows) {
    std::string name = datasets.size() > 1 ? r.engine + " (" + r.dataset + ")" : r.engine;
    auto [it, inserted] = index.try_emplace(name, out.size());
    if (inserted) out.push_back(PlotSeries{name, {}});
    out[it->second].points.push_back(std::move(r.point));
  }
  return out;
}

}  // namespace omendb::cli
