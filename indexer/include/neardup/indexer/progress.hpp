// A one-line progress report (done/total, files/s, ETA) on stderr when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstddef>

namespace neardup::indexer {

class Progress {
public:
    explicit Progress(std::size_t total);
    void advance(std::size_t done);  // redraws at most ten times a second
    void finish();                   // clears the line
    double seconds() const;

private:
    std::size_t total_;
    bool enabled_;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace neardup::indexer
