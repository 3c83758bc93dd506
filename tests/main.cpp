// The tests' main: Catch's, after one first touch of spdlog's default logger.
//
// spdlog builds its logger registry on first use, inside libspdlog, whose static-initialisation guard TSan
// cannot see (the library is not instrumented). Were the first use on two server threads at once, the TSan
// run would report the registry's construction racing with its reads. Every program of ours logs from its
// main thread before it starts threads; the tests do the same here.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

int main(int argc, char* argv[]) {
    spdlog::default_logger();
    return Catch::Session().run(argc, argv);
}
