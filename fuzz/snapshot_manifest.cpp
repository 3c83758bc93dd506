// Fuzzes the parser of snapshot.json (store/snapshot_manifest.hpp), the first thing a damaged or hostile
// index directory reaches. It refuses without throwing; what it accepts keeps its invariants (segments in
// order, within max_id, plain file names) and survives format_snapshot_manifest -> parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "neardup/store/snapshot_manifest.hpp"

namespace {

using neardup::store::SnapshotManifest;

void fail(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_snapshot_manifest: property violated: %s\n%.*s\n", what, int(detail.size()), detail.data());
    std::abort();
}

bool plain_file_name(const std::string& s) {
    if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
    for (const char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    return true;
}

bool same(const SnapshotManifest& a, const SnapshotManifest& b) {
    if (a.generation != b.generation || a.max_id != b.max_id || a.segments.size() != b.segments.size()) return false;
    for (std::size_t i = 0; i < a.segments.size(); ++i) {
        const auto& x = a.segments[i];
        const auto& y = b.segments[i];
        if (x.first_id != y.first_id || x.last_id != y.last_id || x.pdq != y.pdq || x.descriptors != y.descriptors ||
            x.pdq_sha256 != y.pdq_sha256 || x.descriptors_sha256 != y.descriptors_sha256)
            return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = neardup::store::parse_snapshot_manifest(text);
    if (!parsed) {
        if (parsed.error().message.empty()) fail("a refusal without a message");
        return 0;
    }
    SnapshotManifest m = parsed.value();
    if (m.format < 1 || m.format > neardup::store::kSnapshotFormat) fail("accepted an unknown format");
    if (m.generation < 0 || m.max_id < 0) fail("accepted a negative generation or max_id");
    std::int64_t covered = 0;
    for (auto& s : m.segments) {
        if (s.first_id <= covered || s.last_id < s.first_id - 1 || s.last_id > m.max_id) fail("accepted a bad id range", text);
        if (!plain_file_name(s.pdq) || !plain_file_name(s.descriptors)) fail("accepted a file name outside the directory", text);
        if (m.format >= 3 && (s.pdq_sha256.size() != 64 || s.descriptors_sha256.size() != 64)) fail("format 3 without checksums");
        covered = s.last_id;
        // Formats 1 and 2 carry no checksums; the current format needs them to round-trip.
        if (s.pdq_sha256.empty()) s.pdq_sha256 = std::string(64, '0');
        if (s.descriptors_sha256.empty()) s.descriptors_sha256 = std::string(64, 'f');
    }
    const std::string written = neardup::store::format_snapshot_manifest(m);
    const auto again = neardup::store::parse_snapshot_manifest(written);
    if (!again) fail("the written manifest does not parse", again.error().message + "\n" + written);
    if (again.value().format != neardup::store::kSnapshotFormat || !same(again.value(), m))
        fail("the written manifest parses to another one", written);
    return 0;
}
