// Fuzzes the signature codec: deserialize_signature never fails other than with a typed error, and a blob it
// accepts serializes back to the same bytes (the format has one encoding per signature).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "neardup/engine/signature_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto parsed = neardup::deserialize_signature(std::span<const std::uint8_t>(data, size));
    if (!parsed) {
        const auto code = parsed.error().code;
        if (code != neardup::ErrorCode::corrupt_signature && code != neardup::ErrorCode::unsupported_version) {
            std::fprintf(stderr, "fuzz_signature: unexpected error code %d\n", static_cast<int>(code));
            std::abort();
        }
        return 0;
    }
    const auto again = neardup::serialize(parsed.value());
    if (again.size() != size || (size != 0 && std::memcmp(again.data(), data, size) != 0)) {
        std::fprintf(stderr, "fuzz_signature: re-serialized %zu bytes differ from the %zu parsed\n", again.size(), size);
        std::abort();
    }
    const auto twice = neardup::deserialize_signature(again);
    if (!twice || !(twice.value() == parsed.value())) {
        std::fprintf(stderr, "fuzz_signature: the re-serialized signature does not parse to the same value\n");
        std::abort();
    }
    return 0;
}
