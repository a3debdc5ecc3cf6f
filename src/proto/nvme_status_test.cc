// CQE status field: bit positions, every named code's numbers, and the log strings.
#include "proto/nvme_status.h"

#include <gtest/gtest.h>

namespace meshraid::proto::nvme {
namespace {

TEST(NvmeStatusTest, BitPositions) {
  // SC 8:1, SCT 11:9, CRD 13:12, More 14, DNR 15, phase 0 left clear.
  EXPECT_EQ(MakeStatus(kScLbaOutOfRange), 0x0100);
  EXPECT_EQ(MakeStatus(kScLbaOutOfRange, true), 0x8100);
  EXPECT_EQ(MakeStatus(kScUnrecoveredReadError), (2 << 9) | (0x81 << 1));
  EXPECT_EQ(MakeStatus(kScInvalidField, false, true, 3), (0x02 << 1) | (3 << 12) | (1 << 14));
  const uint16_t s = MakeStatus(kScConnectInvalidHost, true);
  EXPECT_EQ(StatusCodeOf(s), kScConnectInvalidHost);
  EXPECT_TRUE(StatusDnr(s));
  EXPECT_FALSE(StatusMore(s));
  EXPECT_EQ(StatusCrd(MakeStatus(kScInternalError, false, false, 2)), 2);
  EXPECT_TRUE(StatusOk(0));
  EXPECT_TRUE(StatusOk(kStatusPhase));  // the phase bit is not part of the outcome
  EXPECT_TRUE(StatusOk(kStatusDnr));    // nor are the flags
  EXPECT_FALSE(StatusOk(MakeStatus(kScInvalidOpcode)));
}

TEST(NvmeStatusTest, CodeValues) {
  const std::pair<StatusCode, uint16_t> expected[] = {
      // Linux's numbering is (SCT << 8) | SC.
      {kScSuccess, 0x000},           {kScInvalidOpcode, 0x001},
      {kScInvalidField, 0x002},      {kScCommandIdConflict, 0x003},
      {kScDataTransferError, 0x004}, {kScInternalError, 0x006},
      {kScAbortRequested, 0x007},    {kScAbortSqDeleted, 0x008},
      {kScInvalidNamespace, 0x00B},  {kScCommandSequenceError, 0x00C},
      {kScInvalidSglSegmentDescriptor, 0x00D}, {kScInvalidSglCount, 0x00E},
      {kScDataSglLengthInvalid, 0x00F}, {kScMetadataSglLengthInvalid, 0x010},
      {kScSglDescriptorTypeInvalid, 0x011}, {kScSglOffsetInvalid, 0x016},
      {kScKeepAliveExpired, 0x019},  {kScKeepAliveInvalid, 0x01A},
      {kScTransientTransportError, 0x022},
      {kScLbaOutOfRange, 0x080},     {kScCapacityExceeded, 0x081},
      {kScNamespaceNotReady, 0x082}, {kScReservationConflict, 0x083},
      {kScInvalidQueueIdentifier, 0x101}, {kScInvalidQueueSize, 0x102},
      {kScInvalidLogPage, 0x109},
      {kScConnectIncompatibleFormat, 0x180}, {kScConnectControllerBusy, 0x181},
      {kScConnectInvalidParameters, 0x182}, {kScConnectRestartDiscovery, 0x183},
      {kScConnectInvalidHost, 0x184},
      {kScWriteFault, 0x280},        {kScUnrecoveredReadError, 0x281},
  };
  for (const auto& [code, linux_value] : expected) {
    EXPECT_EQ((uint16_t(code.sct) << 8) | code.sc, linux_value);
    EXPECT_EQ(MakeStatus(code) >> 1, linux_value);
  }
}

TEST(NvmeStatusTest, Strings) {
  EXPECT_EQ(StatusToString(MakeStatus(kScLbaOutOfRange, true)),
            "generic: LBA out of range (sct 0 sc 0x80, dnr)");
  EXPECT_EQ(StatusToString(MakeStatus(kScConnectInvalidParameters, true), true),
            "command specific: connect invalid parameters (sct 1 sc 0x82, dnr)");
  EXPECT_EQ(StatusToString(MakeStatus(kScConnectInvalidParameters)),
            "command specific: attempted write to read only range (sct 1 sc 0x82)");
  EXPECT_EQ(StatusToString(MakeStatus(kScUnrecoveredReadError, false, true, 1)),
            "media error: unrecovered read error (sct 2 sc 0x81, more, crd 1)");
  EXPECT_EQ(StatusToString(MakeStatus(kScInvalidQueueSize)),
            "command specific: invalid queue size (sct 1 sc 0x02)");
  EXPECT_EQ(StatusToString(MakeStatus({kSctVendor, 0xC3})),
            "vendor specific: unknown (sct 7 sc 0xc3)");
  EXPECT_EQ(StatusToString(0), "success");
  EXPECT_EQ(SctName(5), "reserved");
  EXPECT_EQ(StatusCodeName(kScTransientTransportError), "transient transport error");
  EXPECT_EQ(StatusCodeName(kScWriteFault), "write fault");
}

}  // namespace
}  // namespace meshraid::proto::nvme
