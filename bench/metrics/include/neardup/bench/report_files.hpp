// Writing a report to disk as <stem>.json, <stem>.md and <stem>_pr.png.
#pragma once

#include <filesystem>
#include <string_view>

#include "neardup/bench/bench_error.hpp"
#include "neardup/bench/report.hpp"

namespace neardup::bench {

struct ReportFiles {
    std::filesystem::path json;
    std::filesystem::path markdown;
    std::filesystem::path plot_png;
};

// Creates `directory` if needed. The Markdown links the plot by its file name. Throws std::invalid_argument
// for a stem that is empty or holds a slash.
BenchResult<ReportFiles> write_report_files(const Report& report, const std::filesystem::path& directory,
                                            std::string_view stem);

}  // namespace neardup::bench
