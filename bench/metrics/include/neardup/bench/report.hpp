// A benchmark report: several methods evaluated on the same data in one run.
#pragma once

#include <string>
#include <vector>

#include "neardup/bench/metrics.hpp"

namespace neardup::bench {

struct Report {
    std::string title;    // heading of the Markdown and the plot
    std::string dataset;  // what was measured on ("catalog-v1, 1200 queries, 3400 references")
    std::string command;  // the command line that produced the run
    std::string machine;  // where it ran ("2 cores, Debian 12")
    std::vector<MethodMetrics> methods;  // in the order they should be compared
    friend bool operator==(const Report&, const Report&) = default;
};

}  // namespace neardup::bench
