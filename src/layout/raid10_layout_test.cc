// Raid10Layout: the layout word and mdadm's names.
#include <gtest/gtest.h>

#include "layout/geometry.h"

namespace meshraid::layout {
namespace {

TEST(Raid10LayoutTest, DecodesWordFields) {
  auto l = Raid10Layout::FromWord(0x10201 | (2u << 17));
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->near, 1);
  EXPECT_EQ(l->far, 2);
  EXPECT_TRUE(l->offset);
  EXPECT_EQ(l->far_set_mode, 2);
  EXPECT_EQ(l->Copies(), 2);
}

TEST(Raid10LayoutTest, WordRoundTripsEveryValidWord) {
  for (uint32_t mode = 0; mode < 3; ++mode) {
    for (uint32_t offset = 0; offset < 2; ++offset) {
      for (uint32_t far = 1; far < 256; far += 17) {
        for (uint32_t near = 1; near < 256; near += 13) {
          const uint32_t word = near | far << 8 | offset << 16 | mode << 17;
          auto l = Raid10Layout::FromWord(word);
          ASSERT_TRUE(l.ok()) << word;
          EXPECT_EQ(l->Word(), word);
        }
      }
    }
  }
}

TEST(Raid10LayoutTest, RejectsBadWords) {
  EXPECT_EQ(Raid10Layout::FromWord(0x102 | 1u << 19).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Raid10Layout::FromWord(0x102 | 3u << 17).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Raid10Layout::FromWord(0x100).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Raid10Layout::FromWord(0x002).status().code(), Code::kInvalidArgument);
  EXPECT_NE(Raid10Layout::FromWord(1u << 20).status().message().find("bits above 18"),
            std::string::npos);
}

TEST(Raid10LayoutTest, ParsesMdadmStrings) {
  const struct {
    const char* text;
    uint32_t word;
  } cases[] = {
      {"n2", 0x102},        {"f2", 0x201},   {"o2", 0x10201},  {"n3", 0x103},
      {"f3", 0x301},        {"o3", 0x10301}, {"near2", 0x102}, {"far=2", 0x201},
      {"offset2", 0x10201}, {"n1", 0x101},   {"n255", 0x1ff},
  };
  for (const auto& c : cases) {
    auto l = Raid10Layout::Parse(c.text);
    ASSERT_TRUE(l.ok()) << c.text << ": " << l.status().ToString();
    EXPECT_EQ(l->Word(), c.word) << c.text;
  }
}

TEST(Raid10LayoutTest, RejectsBadStrings) {
  for (const char* text : {"", "x2", "n", "n0", "n256", "n2x", "f-1", "2", "near 2"}) {
    auto l = Raid10Layout::Parse(text);
    EXPECT_EQ(l.status().code(), Code::kInvalidArgument) << text;
  }
}

TEST(Raid10LayoutTest, MdadmNames) {
  auto name = [](uint32_t word) { return Raid10Layout::FromWord(word)->MdadmName(); };
  EXPECT_EQ(name(0x102), "near=2");
  EXPECT_EQ(name(0x201), "far=2");
  EXPECT_EQ(name(0x10201), "offset=2");
  EXPECT_EQ(name(0x202), "near=2,far=2");
  EXPECT_EQ(name(0x10302), "near=2,offset=3");
}

TEST(Raid10LayoutTest, FarSetSizes) {
  Raid10Layout l;
  l.near = 2;
  l.far = 2;
  EXPECT_EQ(l.FarSetSize(9), 9);
  l.far_set_mode = 1;
  EXPECT_EQ(l.FarSetSize(9), 4);
  l.far_set_mode = 2;
  EXPECT_EQ(l.FarSetSize(9), 4);
  l.near = 1;
  l.far = 3;
  EXPECT_EQ(l.FarSetSize(7), 3);
  l.far_set_mode = 1;
  EXPECT_EQ(l.FarSetSize(7), 2);
}

}  // namespace
}  // namespace meshraid::layout
