#include "neardup/engine/image_header.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <string_view>

namespace neardup {
namespace {

using Bytes = std::span<const std::uint8_t>;

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint16_t le16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
std::uint32_t le24(const std::uint8_t* p) { return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16); }

bool starts_with(Bytes b, std::string_view magic) {
    return b.size() >= magic.size() && std::memcmp(b.data(), magic.data(), magic.size()) == 0;
}

Error truncated(std::string_view what) { return make_error(ErrorCode::truncated, std::string(what)); }
Error malformed(std::string_view what) { return make_error(ErrorCode::decode_failed, std::string(what)); }

Result<ImageHeader> probe_jpeg(Bytes b) {
    ImageHeader h{ImageFormat::jpeg};
    bool have_size = false;
    std::size_t pos = 2;  // after SOI
    std::size_t scan_start = 0;
    while (pos + 1 < b.size()) {
        if (b[pos] != 0xFF) return malformed("JPEG: expected a marker at byte " + std::to_string(pos));
        while (pos < b.size() && b[pos] == 0xFF) ++pos;  // fill bytes
        if (pos >= b.size()) break;
        const std::uint8_t marker = b[pos++];
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
        if (marker == 0xD9) return truncated("JPEG: end of image before any scan");
        if (pos + 2 > b.size()) break;
        const std::uint16_t len = be16(&b[pos]);
        if (len < 2) return malformed("JPEG: segment length below 2");
        const bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (is_sof) {
            if (pos + 7 > b.size()) break;
            h.height = be16(&b[pos + 3]);
            h.width = be16(&b[pos + 5]);
            have_size = true;
        }
        if (marker == 0xDA) {  // start of scan: entropy-coded data follows
            scan_start = pos + len;
            break;
        }
        pos += len;
    }
    if (!have_size) {
        return scan_start ? malformed("JPEG: scan before any frame header") : truncated("JPEG: header cut short");
    }
    if (scan_start == 0 || scan_start > b.size()) return truncated("JPEG: stream ends before the first scan");
    // Entropy-coded data stuffs every 0xFF as FF00, so the EOI marker FF D9 cannot occur inside it:
    // a stream without FF D9 after its first scan was cut short.
    bool have_eoi = false;
    for (std::size_t i = b.size() - 1; i > scan_start; --i) {
        if (b[i] == 0xD9 && b[i - 1] == 0xFF) {
            have_eoi = true;
            break;
        }
    }
    if (!have_eoi) return truncated("JPEG: no end-of-image marker after the scan data (file cut short)");
    return h;
}

Result<ImageHeader> probe_png(Bytes b) {
    if (b.size() < 8 + 8 + 13) return truncated("PNG: header cut short");
    if (std::memcmp(&b[12], "IHDR", 4) != 0) return malformed("PNG: first chunk is not IHDR");
    ImageHeader h{ImageFormat::png, be32(&b[16]), be32(&b[20])};
    // The IEND chunk closes every complete PNG; look for it near the end (trailing bytes are tolerated).
    const std::size_t tail = std::min<std::size_t>(b.size(), 4096);
    const auto* first = b.data() + b.size() - tail;
    const auto* last = b.data() + b.size();
    static constexpr std::string_view kIend = "IEND";
    if (std::search(first, last, kIend.begin(), kIend.end()) == last) return truncated("PNG: no IEND chunk (file cut short)");
    return h;
}

Result<ImageHeader> probe_webp(Bytes b) {
    if (b.size() < 30) return truncated("WebP: header cut short");
    const std::uint64_t riff_size = le32(&b[4]);
    if (riff_size + 8 > b.size()) return truncated("WebP: RIFF size says " + std::to_string(riff_size + 8) +
                                                    " bytes, only " + std::to_string(b.size()) + " present");
    ImageHeader h{ImageFormat::webp};
    const std::uint8_t* c = &b[12];
    if (std::memcmp(c, "VP8 ", 4) == 0) {
        if (c[11] != 0x9D || c[12] != 0x01 || c[13] != 0x2A) return malformed("WebP: bad VP8 start code");
        h.width = le16(c + 14) & 0x3FFF;
        h.height = le16(c + 16) & 0x3FFF;
    } else if (std::memcmp(c, "VP8L", 4) == 0) {
        if (c[8] != 0x2F) return malformed("WebP: bad VP8L signature");
        const std::uint32_t bits = le32(c + 9);
        h.width = (bits & 0x3FFF) + 1;
        h.height = ((bits >> 14) & 0x3FFF) + 1;
    } else if (std::memcmp(c, "VP8X", 4) == 0) {
        h.width = le24(c + 12) + 1;
        h.height = le24(c + 15) + 1;
    } else {
        return malformed("WebP: unknown first chunk");
    }
    return h;
}

Result<ImageHeader> probe_bmp(Bytes b) {
    if (b.size() < 26) return truncated("BMP: header cut short");
    const std::uint32_t pixel_offset = le32(&b[10]);
    const std::uint32_t dib_size = le32(&b[14]);
    ImageHeader h{ImageFormat::bmp};
    std::uint32_t bits = 0, compression = 0;
    if (dib_size == 12) {
        h.width = le16(&b[18]);
        h.height = le16(&b[20]);
        bits = le16(&b[24]);
    } else if (dib_size >= 40) {
        if (b.size() < 34) return truncated("BMP: header cut short");
        const auto w = static_cast<std::int32_t>(le32(&b[18]));
        const auto hh = static_cast<std::int32_t>(le32(&b[22]));
        if (w <= 0 || hh == 0 || hh == INT32_MIN) return malformed("BMP: invalid dimensions");
        h.width = static_cast<std::uint32_t>(w);
        h.height = static_cast<std::uint32_t>(hh < 0 ? -hh : hh);  // negative height: top-down rows
        bits = le16(&b[28]);
        compression = le32(&b[30]);
    } else {
        return malformed("BMP: unknown DIB header size " + std::to_string(dib_size));
    }
    if (compression == 0 || compression == 3) {  // uncompressed rows: the size is known exactly
        const std::uint64_t stride = ((std::uint64_t{h.width} * bits + 31) / 32) * 4;
        if (pixel_offset + stride * h.height > b.size()) return truncated("BMP: pixel data cut short");
    }
    return h;
}

Result<ImageHeader> probe_tiff(Bytes b) {
    if (b.size() < 8) return truncated("TIFF: header cut short");
    const bool little = b[0] == 'I';
    auto u16 = [&](std::size_t at) { return little ? le16(&b[at]) : be16(&b[at]); };
    auto u32 = [&](std::size_t at) { return little ? le32(&b[at]) : be32(&b[at]); };
    const std::uint32_t ifd = u32(4);
    if (std::uint64_t{ifd} + 2 > b.size()) return truncated("TIFF: first IFD beyond the end of the data");
    const std::uint16_t entries = u16(ifd);
    if (std::uint64_t{ifd} + 2 + 12ull * entries > b.size()) return truncated("TIFF: IFD cut short");
    ImageHeader h{ImageFormat::tiff};
    for (std::uint16_t i = 0; i < entries; ++i) {
        const std::size_t e = ifd + 2 + 12u * i;
        const std::uint16_t tag = u16(e), type = u16(e + 2);
        const std::uint32_t value = type == 3 ? u16(e + 8) : u32(e + 8);  // SHORT or LONG
        if (tag == 256) h.width = value;
        if (tag == 257) h.height = value;
        if (tag == 274 && value >= 1 && value <= 8) h.orientation = static_cast<int>(value);
    }
    if (h.width == 0 || h.height == 0) return malformed("TIFF: no image width/length tags");
    return h;
}

Result<ImageHeader> probe_pnm(Bytes b) {
    // "P<n>" then width and height as ASCII integers separated by whitespace, '#' comments allowed.
    std::size_t pos = 2;
    std::uint64_t dims[2] = {0, 0};
    for (auto& d : dims) {
        for (;;) {
            while (pos < b.size() && std::isspace(b[pos])) ++pos;
            if (pos < b.size() && b[pos] == '#') {
                // A comment runs to the next carriage return or newline (the Netpbm spec, and OpenCV's reader).
                while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
                continue;
            }
            break;
        }
        if (pos >= b.size()) return truncated("PNM: header cut short");
        if (!std::isdigit(b[pos])) return malformed("PNM: expected a dimension");
        while (pos < b.size() && std::isdigit(b[pos]) && d < (1ull << 32)) d = d * 10 + (b[pos++] - '0');
        // OpenCV's reader takes the byte that ends a number as its delimiter, whatever it is: "48#8" is 48
        // then 8 to it, 48 then a comment to us. Only whitespace after a number reads the same to both.
        if (pos >= b.size()) return truncated("PNM: header cut short");
        if (!std::isspace(b[pos])) return malformed("PNM: a dimension must be followed by whitespace");
    }
    if (dims[0] == 0 || dims[1] == 0 || dims[0] >= (1ull << 32) || dims[1] >= (1ull << 32))
        return malformed("PNM: invalid dimensions");
    return ImageHeader{ImageFormat::pnm, static_cast<std::uint32_t>(dims[0]), static_cast<std::uint32_t>(dims[1])};
}

}  // namespace

std::string_view to_string(ImageFormat format) noexcept {
    switch (format) {
        case ImageFormat::jpeg: return "jpeg";
        case ImageFormat::png: return "png";
        case ImageFormat::webp: return "webp";
        case ImageFormat::bmp: return "bmp";
        case ImageFormat::tiff: return "tiff";
        case ImageFormat::pnm: return "pnm";
    }
    return "unknown";
}

Result<ImageHeader> probe_image_header(std::span<const std::uint8_t> b) {
    if (b.empty()) return make_error(ErrorCode::empty_input, "empty input: 0 bytes");
    if (starts_with(b, "\xFF\xD8\xFF")) return probe_jpeg(b);
    if (starts_with(b, "\x89PNG\r\n\x1A\n")) return probe_png(b);
    if (starts_with(b, "RIFF") && b.size() >= 12 && std::memcmp(&b[8], "WEBP", 4) == 0) return probe_webp(b);
    if (starts_with(b, "BM")) return probe_bmp(b);
    if (starts_with(b, std::string_view("II*\0", 4)) || starts_with(b, std::string_view("MM\0*", 4))) return probe_tiff(b);
    if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2])) return probe_pnm(b);
    if (starts_with(b, "GIF8")) return make_error(ErrorCode::unsupported_format, "unsupported image format: GIF");
    if (b.size() < 4) return make_error(ErrorCode::unsupported_format, "not an image: only " + std::to_string(b.size()) + " bytes");
    return make_error(ErrorCode::unsupported_format,
                      "not an image of a supported format (JPEG, PNG, WebP, BMP, TIFF, PNM): unknown leading bytes");
}

}  // namespace neardup
