// The report as Markdown for people: methods side by side, then recall per edit family.
#pragma once

#include <string>
#include <string_view>

#include "neardup/bench/report.hpp"

namespace neardup::bench {

// A heading, the run's context, a table with one column per method (muAP, recall at precision 0.9 and
// 0.99 with their thresholds, the match decision, hard-negative false matches), and two tables of recall
// per family (by the match decision, and at each method's precision-0.99 threshold). Figures have four
// decimals; "–" marks a value that does not exist. A non-empty plot_file is embedded as an image link.
std::string report_to_markdown(const Report& report, std::string_view plot_file = {});

}  // namespace neardup::bench
