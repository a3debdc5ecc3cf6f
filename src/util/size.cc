#include "util/size.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace meshraid {

Result<uint64_t> ParseSize(std::string_view text, uint64_t default_unit) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a size", text));
  }
  std::string_view rest(ptr, size_t(text.data() + text.size() - ptr));
  uint64_t unit = default_unit;
  if (!rest.empty()) {
    char c = char(std::toupper(static_cast<unsigned char>(rest[0])));
    std::string_view tail = rest.substr(1);
    if (!(tail.empty() || tail == "iB" || tail == "B" || tail == "ib" || tail == "b")) {
      return Status::InvalidArgument(fmt::format("'{}' is not a size", text));
    }
    switch (c) {
      case 'S': unit = 512; break;
      case 'K': unit = uint64_t{1} << 10; break;
      case 'M': unit = uint64_t{1} << 20; break;
      case 'G': unit = uint64_t{1} << 30; break;
      case 'T': unit = uint64_t{1} << 40; break;
      default: return Status::InvalidArgument(fmt::format("'{}': unknown size suffix", text));
    }
  }
  if (value != 0 && unit > UINT64_MAX / value) {
    return Status::InvalidArgument(fmt::format("'{}' is too large", text));
  }
  return value * unit;
}

std::string HumanSize(uint64_t bytes) {
  // Values are rounded to hundredths, as mdadm does.
  auto hundredths = [](uint64_t b, uint64_t unit) { return (b * 200 / unit + 1) / 2; };
  uint64_t bin, dec;
  const char *bu, *du;
  if (bytes < (uint64_t{5} << 20)) return "";
  if (bytes < (uint64_t{2} << 30)) {
    bin = hundredths(bytes, uint64_t{1} << 20);
    dec = hundredths(bytes, 1000000);
    bu = "MiB";
    du = "MB";
  } else if (bytes < (uint64_t{2} << 40)) {
    bin = hundredths(bytes, uint64_t{1} << 30);
    dec = hundredths(bytes, 1000000000);
    bu = "GiB";
    du = "GB";
  } else {
    bin = hundredths(bytes, uint64_t{1} << 40);
    dec = hundredths(bytes, 1000000000000);
    bu = "TiB";
    du = "TB";
  }
  return fmt::format("({}.{:02} {} {}.{:02} {})", bin / 100, bin % 100, bu, dec / 100, dec % 100,
                     du);
}

}  // namespace meshraid
