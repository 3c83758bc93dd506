#include "neardup/indexer/progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace neardup::indexer {

Progress::Progress(std::size_t total)
    : total_(total), enabled_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double Progress::seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(std::size_t done) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100) && done != total_) return;
    last_draw_ = now;
    const double elapsed = seconds();
    const double rate = elapsed > 0 ? done / elapsed : 0.0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    constexpr int kWidth = 30;
    const int filled = total_ ? static_cast<int>(kWidth * done / total_) : kWidth;
    std::fprintf(stderr, "\r[%-*.*s] %zu/%zu  %.1f files/s  ETA %.0fs ", kWidth, filled,
                 "##############################", done, total_, rate, eta);
    std::fflush(stderr);
}

void Progress::finish() {
    if (enabled_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace neardup::indexer
