#include "neardup/bench/report_files.hpp"

#include <fstream>
#include <stdexcept>

#include "neardup/bench/pr_plot.hpp"
#include "neardup/bench/report_json.hpp"
#include "neardup/bench/report_markdown.hpp"

namespace neardup::bench {
namespace {

BenchResult<bool> write_bytes(const std::filesystem::path& path, const char* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return make_bench_error(BenchErrorCode::io_error, path.string(), 0, "cannot open for writing");
    out.write(data, static_cast<std::streamsize>(size));
    out.close();
    if (!out) return make_bench_error(BenchErrorCode::io_error, path.string(), 0, "write failed");
    return true;
}

}  // namespace

BenchResult<ReportFiles> write_report_files(const Report& report, const std::filesystem::path& directory,
                                            std::string_view stem) {
    if (stem.empty() || stem.find('/') != std::string_view::npos)
        throw std::invalid_argument("write_report_files: stem '" + std::string(stem) + "' must be a plain file name");
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec) return make_bench_error(BenchErrorCode::io_error, directory.string(), 0, "cannot create: " + ec.message());

    const std::string name(stem);
    ReportFiles files{directory / (name + ".json"), directory / (name + ".md"), directory / (name + "_pr.png")};

    const std::string json = report_to_json(report).dump(2) + "\n";
    if (auto r = write_bytes(files.json, json.data(), json.size()); !r) return r.error();
    const std::string markdown = report_to_markdown(report, files.plot_png.filename().string());
    if (auto r = write_bytes(files.markdown, markdown.data(), markdown.size()); !r) return r.error();
    const std::vector<std::uint8_t> png = render_pr_plot_png(report);
    if (auto r = write_bytes(files.plot_png, reinterpret_cast<const char*>(png.data()), png.size()); !r)
        return r.error();
    return files;
}

}  // namespace neardup::bench
