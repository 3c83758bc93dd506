#include "neardup/bench/bench_error.hpp"

namespace neardup::bench {

std::string_view to_string(BenchErrorCode code) noexcept {
    switch (code) {
        case BenchErrorCode::io_error: return "io_error";
        case BenchErrorCode::malformed_csv: return "malformed_csv";
        case BenchErrorCode::malformed_json: return "malformed_json";
    }
    return "unknown";
}

BenchError make_bench_error(BenchErrorCode code, std::string_view source, std::size_t line, std::string_view what) {
    std::string message(source);
    if (line > 0) message += ":" + std::to_string(line);
    message += ": ";
    message += what;
    return BenchError{code, std::string(source), line, std::move(message)};
}

}  // namespace neardup::bench
