// The fixed-newstyle negotiation of one NBD connection, server side: greeting, client flags,
// then options until EXPORT_NAME or a successful GO (transmission), ABORT, a hard-close
// condition or the peer going away (close). Every wire decision comes from src/proto
// (ParseOption judges each option; doc/nbd_protocol.md has the table); this file only adds
// what needs the export: LIST, INFO/GO replies, unknown export names.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "export/nbd_export.h"
#include "io/socket_reader.h"
#include "io/socket_writer.h"
#include "io/task.h"
#include "proto/nbd_option.h"

namespace meshraid::exports {

struct HandshakeResult {
  bool transmission = false;        // false: close the connection
  bool structured_replies = false;  // negotiated with NBD_OPT_STRUCTURED_REPLY
  std::string how;                  // "GO", "EXPORT_NAME", or why the connection ends
};

class Handshake {
 public:
  // Options after the first `max_options` (a DoS bound, as nbdkit's budget) close the
  // connection. `stopping` is read before each option (true: ERR_SHUTDOWN).
  Handshake(io::SocketReader& reader, io::SocketWriter& writer, const Export& e, const ExportParams& p,
            const bool& stopping, uint32_t max_options = 64);

  io::Task<HandshakeResult> Run();

 private:
  enum class Next { kContinue, kTransmission, kClose };

  io::Task<Status> SendBytes(std::span<const uint8_t> bytes);
  io::Task<Status> SendError(uint32_t option, uint32_t error, std::string_view message);
  // Reads one whole option; false (with `why`) if the connection must close.
  io::Task<bool> ReadOption(proto::OptionDecoder& dec, std::string* why);
  io::Task<Next> Handle(const proto::ParsedOption& p, std::string* why);
  io::Task<Status> SendInfos(const proto::ParsedOption& p);

  io::SocketReader& reader_;
  io::SocketWriter& writer_;
  const Export& export_;
  const ExportParams& params_;
  const bool& stopping_;
  uint32_t max_options_;
  proto::NegotiationState state_;
  bool no_zeroes_ = false;
};

}  // namespace meshraid::exports
