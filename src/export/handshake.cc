// NBD option negotiation on a live connection (see handshake.h).
#include "export/handshake.h"

#include <vector>

#include "proto/nbd_wire.h"

namespace meshraid::exports {

using namespace proto;

Handshake::Handshake(io::SocketReader& reader, io::SocketWriter& writer, const Export& e,
                     const ExportParams& p, const bool& stopping, uint32_t max_options)
    : reader_(reader), writer_(writer), export_(e), params_(p), stopping_(stopping),
      max_options_(max_options) {}

io::Task<Status> Handshake::SendBytes(std::span<const uint8_t> bytes) {
  const iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  co_return co_await writer_.Send({&iov, 1});
}

io::Task<Status> Handshake::SendError(uint32_t option, uint32_t error, std::string_view message) {
  Result<std::vector<uint8_t>> r = EncodeOptionError(option, error, message);
  if (!r.ok()) r = EncodeOptionError(option, error, "");
  co_return co_await SendBytes(*r);
}

io::Task<bool> Handshake::ReadOption(OptionDecoder& dec, std::string* why) {
  std::vector<uint8_t> chunk(kOptionHeaderSize);
  for (bool first = true;; first = false) {
    Result<size_t> n = co_await reader_.ReadFull(chunk);
    if (!n.ok()) {
      *why = n.status().message();
      co_return false;
    }
    if (*n < chunk.size()) {
      *why = *n == 0 && first ? "client closed during negotiation"
                              : "client closed in the middle of an option";
      co_return false;
    }
    const FeedResult f = dec.Feed(chunk);
    if (f.state == DecodeState::kComplete) co_return true;
    if (f.state == DecodeState::kBadMagic) {
      *why = "bad option magic (hard close)";
      co_return false;
    }
    if (f.state == DecodeState::kTooLong) {
      *why = "option data too long (hard close)";
      co_return false;
    }
    chunk.resize(dec.needed());
  }
}

io::Task<Status> Handshake::SendInfos(const ParsedOption& p) {
  const uint32_t opt = p.code;
  const uint16_t flags = ClientTxFlags(params_, state_.structured_replies);
  MESHRAID_CO_RETURN_IF_ERROR(co_await SendBytes(EncodeInfoExport(opt, params_.size, flags)));
  if (p.WantsInfo(kInfoName)) {
    Result<std::vector<uint8_t>> r = EncodeInfoName(opt, export_.name);
    if (r.ok()) MESHRAID_CO_RETURN_IF_ERROR(co_await SendBytes(*r));
  }
  if (p.WantsInfo(kInfoDescription) && !export_.description.empty()) {
    Result<std::vector<uint8_t>> r = EncodeInfoDescription(opt, export_.description);
    if (r.ok()) MESHRAID_CO_RETURN_IF_ERROR(co_await SendBytes(*r));
  }
  // Sent even when not requested: our minimum can exceed 1, and the spec asks servers with
  // constraints to advertise them (clients that did not ask get EINVAL on misaligned I/O).
  Result<std::vector<uint8_t>> bs = EncodeInfoBlockSize(opt, params_.block_size);
  if (bs.ok()) MESHRAID_CO_RETURN_IF_ERROR(co_await SendBytes(*bs));
  co_return co_await SendBytes(EncodeAck(opt));
}

io::Task<Handshake::Next> Handshake::Handle(const ParsedOption& p, std::string* why) {
  if (p.verdict == OptionVerdict::kHardClose) {
    *why = p.reason + " (hard close)";
    co_return Next::kClose;
  }
  Status s;
  if (p.verdict == OptionVerdict::kReplyError) {
    s = co_await SendError(p.code, p.error, p.reason);
    co_return s.ok() ? Next::kContinue : Next::kClose;
  }
  switch (p.kind) {
    case OptionKind::kExportName:
      if (!MatchesExport(export_, p.export_name)) {
        *why = "EXPORT_NAME for unknown export '" + p.export_name + "' (hard close)";
        co_return Next::kClose;
      }
      s = co_await SendBytes(EncodeExportNameReply(
          params_.size, ClientTxFlags(params_, state_.structured_replies), no_zeroes_));
      *why = "EXPORT_NAME";
      co_return s.ok() ? Next::kTransmission : Next::kClose;
    case OptionKind::kAbort:
      (void)co_await SendBytes(EncodeAck(p.code));  // the client may already be gone
      *why = "client aborted negotiation";
      co_return Next::kClose;
    case OptionKind::kList: {
      Result<std::vector<uint8_t>> r = EncodeServerReply(export_.name, export_.description);
      if (!r.ok()) r = EncodeServerReply(export_.name);
      if (r.ok()) s = co_await SendBytes(*r);
      if (s.ok()) s = co_await SendBytes(EncodeAck(p.code));
      break;
    }
    case OptionKind::kInfo:
    case OptionKind::kGo:
      if (!MatchesExport(export_, p.export_name)) {
        s = co_await SendError(p.code, kRepErrUnknown, "no export named '" + p.export_name + "'");
        break;
      }
      s = co_await SendInfos(p);
      if (s.ok() && p.kind == OptionKind::kGo) {
        *why = "GO";
        co_return Next::kTransmission;
      }
      break;
    case OptionKind::kStructuredReply:
      state_.structured_replies = true;
      s = co_await SendBytes(EncodeAck(p.code));
      break;
    default:  // ParseOption answers everything else with an error
      s = co_await SendError(p.code, kRepErrUnsup, "unsupported option");
      break;
  }
  if (!s.ok()) *why = s.message();
  co_return s.ok() ? Next::kContinue : Next::kClose;
}

io::Task<HandshakeResult> Handshake::Run() {
  HandshakeResult out;
  const auto greeting = EncodeServerGreeting();
  if (Status s = co_await SendBytes(greeting); !s.ok()) {
    out.how = s.message();
    co_return out;
  }
  std::array<uint8_t, kClientFlagsSize> cf{};
  Result<size_t> n = co_await reader_.ReadFull(cf);
  if (!n.ok() || *n != cf.size()) {
    out.how = n.ok() ? "client closed before sending its flags" : n.status().message();
    co_return out;
  }
  Result<ClientFlags> flags = DecodeClientFlags(cf);
  if (!flags.ok()) {
    out.how = flags.status().message();
    co_return out;
  }
  state_.fixed_newstyle = flags->fixed_newstyle;
  no_zeroes_ = flags->no_zeroes;

  OptionDecoder dec;
  for (;;) {
    if (dec.options_decoded() >= max_options_) {
      out.how = "too many options (hard close)";
      co_return out;
    }
    if (!co_await ReadOption(dec, &out.how)) co_return out;
    state_.shutting_down = stopping_;
    const Next next = co_await Handle(ParseOption(dec.option(), state_), &out.how);
    if (next == Next::kClose) co_return out;
    if (next == Next::kTransmission) {
      out.transmission = true;
      out.structured_replies = state_.structured_replies;
      co_return out;
    }
  }
}

}  // namespace meshraid::exports
