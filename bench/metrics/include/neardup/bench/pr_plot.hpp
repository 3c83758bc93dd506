// The precision-recall curves of every method of a report, drawn on one figure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "neardup/bench/report.hpp"

namespace neardup::bench {

struct PrPlotOptions {
    int width = 1100;
    int height = 720;
};

// PNG bytes: recall on x, precision on y, both 0..1 with gridlines every 0.1; right of the axes a legend
// with each method's muAP (long names shortened); the precision-0.9 and 0.99 operating points marked.
// Throws std::invalid_argument for a size under 640 x 400.
std::vector<std::uint8_t> render_pr_plot_png(const Report& report, const PrPlotOptions& options = {});

}  // namespace neardup::bench
