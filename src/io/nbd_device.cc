#include "io/nbd_device.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "io/when_all.h"

namespace meshraid::io {

namespace {

constexpr uint64_t kMaxPayloadBytes = 32u << 20;  // qemu-nbd's cap; libnbd 1.14 won't enforce it
constexpr uint64_t kMaxBodylessBytes = 1u << 30;  // trim/zero pieces (NBD length is 32-bit)
constexpr uint64_t kZeroChunkBytes = 1u << 20;    // write-zeroes fallback buffer
constexpr uint32_t kMaxMinimumBlock = 64u << 10;  // NBD spec: minimum block size <= 64 KiB

bool PowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

Status CheckNbdUriHostIsNumeric(std::string_view uri) {
  const size_t sep = uri.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument(fmt::format("{}: not an NBD URI", uri));
  }
  const std::string_view scheme = uri.substr(0, sep);
  if (scheme == "nbd+unix" || scheme == "nbds+unix" || scheme == "nbd+vsock" ||
      scheme == "nbds+vsock") {
    return Status::Ok();
  }
  if (scheme != "nbd" && scheme != "nbds") {
    return Status::InvalidArgument(fmt::format("{}: unsupported URI scheme '{}'", uri, scheme));
  }
  std::string_view authority = uri.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string host;
  bool numeric = false;
  in6_addr addr{};
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close != std::string_view::npos) host = std::string(authority.substr(1, close - 1));
    numeric = !host.empty() && ::inet_pton(AF_INET6, host.c_str(), &addr) == 1;
  } else {
    host = std::string(authority.substr(0, authority.find(':')));
    numeric = !host.empty() && ::inet_pton(AF_INET, host.c_str(), &addr) == 1;
  }
  if (numeric) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{}: host '{}' is not a numeric address (name lookups block the reactor; use an IP "
      "address or allow_name_lookup)",
      uri, host));
}

NbdDevice::NbdDevice(Reactor& reactor, std::string uri, Options options)
    : reactor_(reactor), uri_(std::move(uri)), options_(std::move(options)) {}

NbdDevice::~NbdDevice() {
  if (conn_ && !conn_->finished()) {
    std::fprintf(stderr, "meshraid: NbdDevice %s destroyed without Close()\n", uri_.c_str());
    std::abort();
  }
}

Task<Result<std::unique_ptr<NbdDevice>>> NbdDevice::Connect(Reactor& reactor, std::string uri,
                                                            Options options) {
  if (!options.allow_name_lookup) MESHRAID_CO_RETURN_IF_ERROR(CheckNbdUriHostIsNumeric(uri));
  std::unique_ptr<NbdDevice> dev(new NbdDevice(reactor, std::move(uri), std::move(options)));
  Result<std::shared_ptr<NbdConnection>> c = co_await dev->OpenConnection();
  if (!c.ok()) co_return c.status();
  dev->conn_ = std::move(c).value();
  Result<Caps> caps = dev->ReadCapabilities(dev->conn_->handle());
  if (!caps.ok()) {
    static_cast<void>(co_await dev->conn_->Disconnect(dev->options_.close_timeout_ns));
    co_return caps.status();
  }
  dev->info_ = caps->info;
  dev->read_only_ = caps->read_only;
  dev->export_bytes_ = caps->export_bytes;
  dev->generation_ = 1;
  co_return std::move(dev);
}

Task<Result<std::shared_ptr<NbdConnection>>> NbdDevice::OpenConnection() {
  NbdConnection::Options o;
  o.name = uri_;
  o.connect_timeout_ns = options_.connect_timeout_ns;
  o.request_timeout_ns = options_.request_timeout_ns;
  o.log = options_.log;
  Result<std::unique_ptr<NbdConnection>> r =
      co_await NbdConnection::Connect(reactor_, uri_, std::move(o));
  if (!r.ok()) co_return r.status();
  co_return std::shared_ptr<NbdConnection>(std::move(r).value());
}

Result<NbdDevice::Caps> NbdDevice::ReadCapabilities(nbd_handle* h) const {
  Caps caps;
  DeviceInfo& info = caps.info;
  info.name = uri_;
  // libnbd 1.14 can return negative values other than -1 for sizes > INT64_MAX
  // (CVE-2023-5215): any negative size is an error.
  const int64_t size = nbd_get_size(h);
  if (size < 0) {
    return Status::InvalidArgument(fmt::format("{}: the server reported an invalid size", uri_));
  }
  const int64_t minimum = std::max<int64_t>(nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM), 0);
  const int64_t preferred = std::max<int64_t>(nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED), 0);
  const int64_t maximum = std::max<int64_t>(nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM), 0);
  if (minimum != 0 && (!PowerOfTwo(uint64_t(minimum)) || minimum > kMaxMinimumBlock)) {
    return Status::InvalidArgument(
        fmt::format("{}: unusable minimum block size {}", uri_, minimum));
  }
  info.logical_block_size = std::max<uint32_t>(uint32_t(minimum), 512);
  const uint32_t lbs = info.logical_block_size;
  info.physical_block_size =
      std::max<uint32_t>(lbs, PowerOfTwo(uint64_t(preferred)) && preferred <= (2 << 20)
                                  ? uint32_t(preferred)
                                  : 4096u);
  uint64_t max_io = maximum > 0 ? std::min<uint64_t>(uint64_t(maximum), kMaxPayloadBytes)
                                : kMaxPayloadBytes;
  max_io -= max_io % lbs;
  if (max_io == 0) {
    return Status::InvalidArgument(fmt::format(
        "{}: maximum block size {} is below the minimum {}", uri_, maximum, lbs));
  }
  info.max_io_bytes = uint32_t(max_io);
  caps.export_bytes = uint64_t(size);
  info.size_bytes = uint64_t(size) - uint64_t(size) % lbs;  // the tail is unusable
  info.can_fua = nbd_can_fua(h) == 1;
  info.can_flush = nbd_can_flush(h) == 1;
  info.can_discard = nbd_can_trim(h) == 1;
  info.can_write_zeroes = nbd_can_zero(h) == 1;
  info.rotational = nbd_is_rotational(h) == 1;
  caps.read_only = nbd_is_read_only(h) == 1;
  return caps;
}

Status NbdDevice::Check(const char* op, uint64_t offset, uint64_t length) const {
  if (closed_) return Status::FailedPrecondition(fmt::format("{} {}: device closed", op, uri_));
  return CheckRange(info_, op, offset, length);
}

Status NbdDevice::connection_status() const {
  if (conn_ == nullptr) return Status::Unavailable(uri_ + ": not connected");
  return conn_->death();
}

// --- I/O --------------------------------------------------------------------------------------
// Note: no lambdas or braced temporaries inside co_await operands: GCC 12 destroys such
// prvalues twice (seen here with a lambda capturing a shared_ptr).

Task<Status> NbdDevice::Piece(NbdConnection& c, PieceOp op, uint64_t offset, uint8_t* buf,
                              uint64_t length, uint32_t flags) {
  switch (op) {
    case PieceOp::kRead:
      return c.Pread(std::span<uint8_t>(buf, length), offset);
    case PieceOp::kWrite:
      return c.Pwrite(std::span<const uint8_t>(buf, length), offset, flags);
    case PieceOp::kTrim:
      return c.Trim(offset, length);
    case PieceOp::kZero:
      break;
  }
  return c.Zero(offset, length, flags);
}

Task<Status> NbdDevice::Pieces(NbdConnection& c, PieceOp op, uint64_t offset, uint8_t* buf,
                               uint64_t length, uint32_t flags) {
  const bool payload = op == PieceOp::kRead || op == PieceOp::kWrite;
  const uint64_t piece = payload ? info_.max_io_bytes : kMaxBodylessBytes;
  if (length <= piece) co_return co_await Piece(c, op, offset, buf, length, flags);
  std::vector<Task<Status>> parts;
  parts.reserve((length + piece - 1) / piece);
  for (uint64_t done = 0; done < length; done += piece) {
    parts.push_back(Piece(c, op, offset + done, payload ? buf + done : nullptr,
                          std::min(piece, length - done), flags));
  }
  co_return co_await WhenAllOk(std::move(parts));
}

Task<Status> NbdDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("read", offset, buf.size()));
  if (buf.empty()) co_return Status::Ok();
  std::shared_ptr<NbdConnection> c = conn_;  // alive until this frame ends
  co_return co_await Pieces(*c, PieceOp::kRead, offset, buf.data(), buf.size(), 0);
}

Task<Status> NbdDevice::Write(uint64_t offset, std::span<const uint8_t> buf, WriteFlags flags) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("write", offset, buf.size()));
  std::shared_ptr<NbdConnection> c = conn_;
  const bool fua = flags == WriteFlags::kFua;
  const bool native_fua = fua && info_.can_fua;
  Status s;
  if (!buf.empty()) {
    const uint32_t nbd_flags = native_fua ? LIBNBD_CMD_FLAG_FUA : 0;
    s = co_await Pieces(*c, PieceOp::kWrite, offset, const_cast<uint8_t*>(buf.data()),
                        buf.size(), nbd_flags);
  }
  // Emulated FUA: flush on the same connection the data went to.
  if (s.ok() && fua && !native_fua && info_.can_flush) s = co_await c->Flush();
  co_return s;
}

Task<Status> NbdDevice::Flush() {
  MESHRAID_CO_RETURN_IF_ERROR(Check("flush", 0, 0));
  if (!info_.can_flush) co_return Status::Ok();
  std::shared_ptr<NbdConnection> c = conn_;
  co_return co_await c->Flush();
}

Task<Status> NbdDevice::Discard(uint64_t offset, uint64_t length) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("discard", offset, length));
  if (length == 0) co_return Status::Ok();
  if (!info_.can_discard) {
    co_return Status::NotSupported(fmt::format("discard {}: the server cannot trim", uri_));
  }
  std::shared_ptr<NbdConnection> c = conn_;
  co_return co_await Pieces(*c, PieceOp::kTrim, offset, nullptr, length, 0);
}

Task<Status> NbdDevice::WriteZeroBuffers(NbdConnection& c, uint64_t offset, uint64_t length) {
  const uint64_t chunk = std::min<uint64_t>({length, kZeroChunkBytes, info_.max_io_bytes});
  std::vector<uint8_t> zeroes(chunk, 0);
  for (uint64_t done = 0; done < length; done += chunk) {
    const uint64_t n = std::min(chunk, length - done);
    MESHRAID_CO_RETURN_IF_ERROR(
        co_await c.Pwrite(std::span<const uint8_t>(zeroes.data(), n), offset + done, 0));
  }
  co_return Status::Ok();
}

Task<Status> NbdDevice::WriteZeroes(uint64_t offset, uint64_t length, ZeroFlags flags) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("write zeroes", offset, length));
  if (length == 0) co_return Status::Ok();
  const uint32_t bits = static_cast<uint32_t>(flags);
  const bool fua = (bits & static_cast<uint32_t>(ZeroFlags::kFua)) != 0;
  const bool no_hole = (bits & static_cast<uint32_t>(ZeroFlags::kNoHole)) != 0;
  std::shared_ptr<NbdConnection> c = conn_;
  bool native_fua = false;
  Status s;
  if (info_.can_write_zeroes) {
    native_fua = fua && info_.can_fua;
    const uint32_t nbd_flags =
        (no_hole ? LIBNBD_CMD_FLAG_NO_HOLE : 0) | (native_fua ? LIBNBD_CMD_FLAG_FUA : 0);
    s = co_await Pieces(*c, PieceOp::kZero, offset, nullptr, length, nbd_flags);
  } else {
    s = co_await WriteZeroBuffers(*c, offset, length);
  }
  if (s.ok() && fua && !native_fua && info_.can_flush) s = co_await c->Flush();
  co_return s;
}

// --- Connection management --------------------------------------------------------------------

Task<Status> NbdDevice::Close() {
  if (closed_) co_return Status::Ok();
  if (reconnecting_) co_return Status::Busy(uri_ + ": close during a reconnect");
  closed_ = true;
  std::shared_ptr<NbdConnection> c = conn_;
  if (!c->alive()) {  // already dead: just wait until its handle is closed
    co_await c->Abort(ENOTCONN, "device closed");
    co_return Status::Ok();
  }
  co_return co_await c->Disconnect(options_.close_timeout_ns);
}

Task<Status> NbdDevice::Reconnect() {
  if (closed_) co_return Status::FailedPrecondition(uri_ + ": reconnect after close");
  if (reconnecting_) co_return Status::Busy(uri_ + ": a reconnect is already running");
  reconnecting_ = true;
  std::shared_ptr<NbdConnection> old = conn_;
  co_await old->Abort(ENOTCONN, "connection dropped for a reconnect");
  Status s;
  Result<std::shared_ptr<NbdConnection>> c = co_await OpenConnection();
  if (!c.ok()) {
    s = c.status();
  } else {
    Result<Caps> caps = ReadCapabilities(c.value()->handle());
    if (caps.ok() && (caps->export_bytes != export_bytes_ ||
                      caps->info.logical_block_size > info_.logical_block_size)) {
      s = Status::FailedPrecondition(fmt::format(
          "{}: the export changed across a reconnect (size {} -> {}, block size {} -> {})", uri_,
          export_bytes_, caps->export_bytes, info_.logical_block_size,
          caps->info.logical_block_size));
    } else if (!caps.ok()) {
      s = caps.status();
    } else if (caps->info.max_io_bytes < info_.logical_block_size) {
      s = Status::FailedPrecondition(
          fmt::format("{}: maximum request size shrank below the block size", uri_));
    }
    if (!s.ok()) {
      static_cast<void>(co_await c.value()->Disconnect(options_.close_timeout_ns));
    } else {
      conn_ = std::move(c).value();
      // Size and logical block size stay; what the server offers may have changed.
      info_.max_io_bytes = caps->info.max_io_bytes -
                           caps->info.max_io_bytes % info_.logical_block_size;
      info_.can_fua = caps->info.can_fua;
      info_.can_flush = caps->info.can_flush;
      info_.can_discard = caps->info.can_discard;
      info_.can_write_zeroes = caps->info.can_write_zeroes;
      info_.rotational = caps->info.rotational;
      read_only_ = caps->read_only;
      ++generation_;
      if (options_.log) {
        options_.log(fmt::format("{}: reconnected (generation {})", uri_, generation_));
      }
    }
  }
  reconnecting_ = false;
  co_return s;
}

}  // namespace meshraid::io
