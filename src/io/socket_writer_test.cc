// SocketWriter on its own: queue order, gathering, short sends and a broken peer.
#include "io/socket_writer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "io/gate.h"
#include "io/test_pattern.h"
#include "io/when_all.h"

namespace meshraid::io {
namespace {

using testing::Pattern;

Task<void> SendParts(SocketWriter& w, std::vector<std::vector<uint8_t>> parts, Status* out) {
  std::vector<iovec> iov;
  for (auto& p : parts) iov.push_back({p.data(), p.size()});
  *out = co_await w.Send(iov);
}

Task<void> CloseSoon(Reactor& r, SocketWriter& w) {
  for (int i = 0; i < 3; ++i) co_await io::Yield(r);
  w.Close();
}

// Runs the writer, one SendParts per sequence (each split in two parts) and a late Close().
Task<void> SendAllThenClose(Reactor& r, SocketWriter& w,
                                const std::vector<std::vector<uint8_t>>& seqs,
                                std::vector<Status>* results) {
  std::vector<Task<void>> t;
  t.push_back(w.Run());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& s = seqs[i];
    std::vector<std::vector<uint8_t>> parts(2);
    parts[0].assign(s.begin(), s.begin() + 5);
    parts[1].assign(s.begin() + 5, s.end());
    t.push_back(SendParts(w, std::move(parts), &(*results)[i]));
  }
  t.push_back(CloseSoon(r, w));
  co_await io::WhenAll(std::move(t));
}

Task<void> SendToGonePeer(SocketWriter& w, Status* first, Status* later) {
  std::vector<Task<void>> t;
  t.push_back(w.Run());
  std::vector<std::vector<uint8_t>> one(1, Pattern(100, 1)), two(1, Pattern(100, 2));
  t.push_back(SendParts(w, std::move(one), first));
  co_await io::WhenAll(std::move(t));  // Run ends by itself on the error
  co_await SendParts(w, std::move(two), later);
}

TEST(SocketWriterTest, LargeSequencesArriveWholeAndInQueueOrderDespiteShortSends) {
  auto reactor = std::move(Reactor::Create()).value();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const int small = 4096;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  std::vector<std::vector<uint8_t>> seqs = {Pattern(3 << 20, 1), Pattern(10, 2), Pattern(5 << 20, 3)};
  std::vector<uint8_t> expected;
  for (auto& s : seqs) expected.insert(expected.end(), s.begin(), s.end());
  std::vector<uint8_t> got;
  const int peer = sv[1];
  std::thread reader([&got, &expected, peer] {  // a plain blocking reader
    got.resize(expected.size());
    size_t done = 0;
    while (done < got.size()) {
      const ssize_t n = ::recv(peer, got.data() + done, got.size() - done, 0);
      if (n <= 0) break;
      done += size_t(n);
    }
    got.resize(done);
  });
  SocketWriter w(*reactor, sv[0]);
  std::vector<Status> results(seqs.size());
  reactor->RunUntilComplete(SendAllThenClose(*reactor, w, seqs, &results));
  reader.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, expected);
  EXPECT_GT(w.sendmsg_calls(), 2u);  // short sends were resubmitted
  EXPECT_EQ(w.bytes_sent(), expected.size());
  ::close(sv[0]);
}

TEST(SocketWriterTest, APeerThatIsGoneFailsEverySendAndLaterOnesAtOnce) {
  auto reactor = std::move(Reactor::Create()).value();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::close(sv[1]);
  SocketWriter w(*reactor, sv[0]);
  Status first, later;
  reactor->RunUntilComplete(SendToGonePeer(w, &first, &later));
  EXPECT_FALSE(first.ok());
  EXPECT_FALSE(later.ok());
  EXPECT_FALSE(w.status().ok());
  ::close(sv[0]);
}

}  // namespace
}  // namespace meshraid::io
