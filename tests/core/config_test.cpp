// Config merging: the defaults are the schema; unknown keys and wrong types are errors that name
// the key, the source and the nearest valid key.
#include "p2pgrid/core/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"
#include "support/errors.hpp"
#include "support/temp_dir.hpp"

namespace p2pgrid {
namespace {

using test::error_of;

using nlohmann::json;

Config small() {
  return Config(json::parse(R"({"powerflow": {"backend": "cpu", "tolerance_pu": 1e-9,
                                              "max_iterations": 50},
                                "output": {"format": "text"}})"));
}

TEST(Config, SetOverridesWithTypedValues) {
  Config c = small();
  c.set("powerflow.backend=cuda");
  c.set("powerflow.tolerance_pu=1e-6");
  c.set("powerflow.max_iterations=7");
  EXPECT_EQ(c.string("powerflow.backend"), "cuda");
  EXPECT_DOUBLE_EQ(c.number("powerflow.tolerance_pu"), 1e-6);
  EXPECT_EQ(c.integer("powerflow.max_iterations"), 7);
  c.set("powerflow.tolerance_pu=1");  // an integer is a valid number
  EXPECT_DOUBLE_EQ(c.number("powerflow.tolerance_pu"), 1.0);
}

TEST(Config, SetReachesIntoArrays) {
  // One element of an array of objects, at any depth: a sweep over one device parameter.
  Config c(json::parse(R"({"env": {"prosumers": [{"bus": 48, "portfolio": "a"},
                                                 {"bus": 78, "portfolio": "b"}],
                                   "portfolios": [{"name": "a", "devices": [
                                       {"type": "cdg", "p_max_kw": 100.0}]}]}})"));
  c.set("env.prosumers.1.scale=2");  // a key the element did not have
  c.set("env.portfolios.0.devices.0.p_max_kw=321");
  EXPECT_EQ(c.at("env.prosumers")[1], json::parse(R"({"bus": 78, "portfolio": "b", "scale": 2})"));
  EXPECT_EQ(c.at("env.prosumers")[0], json::parse(R"({"bus": 48, "portfolio": "a"})"));
  EXPECT_EQ(c.at("env.portfolios")[0]["devices"][0]["p_max_kw"], 321);
  const Config before = c;
  for (const auto& [assignment, message] : std::vector<std::pair<std::string, std::string>>{
           {"env.prosumers.2.scale=2", "'2' is not an index of 'env.prosumers' (0 to 1)"},
           {"env.prosumers.x.scale=2", "'x' is not an index of 'env.prosumers'"},
           {"env.prosumers.0.bus=abc", "'env.prosumers.0.bus' is an integer, got a string"},
           {"env.portfolios.0.devicez.0.p_max_kw=1", "'env.portfolios.0' has no key 'devicez'"},
           {"env.prosumers.0.bus.x=1", "'env.prosumers.0.bus' is an integer, not an array"}}) {
    const std::string msg = error_of([&] { c.set(assignment); });
    EXPECT_NE(msg.find(message), std::string::npos) << assignment << ": " << msg;
  }
  EXPECT_EQ(c.values(), before.values());  // a failed --set changes nothing
}

TEST(Config, UnknownKeyNamesSourceAndNearestKey) {
  Config c = small();
  const std::string msg = error_of([&] { c.set("powerflow.tolerance=1e-6"); });
  EXPECT_NE(msg.find("--set powerflow.tolerance=1e-6"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key 'powerflow.tolerance'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'powerflow.tolerance_pu'"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKeyAndExpectedType) {
  Config c = small();
  const std::string msg = error_of([&] { c.set("powerflow.max_iterations=2.5"); });
  EXPECT_NE(msg.find("'powerflow.max_iterations' expects an integer, got a number 2.5"),
            std::string::npos)
      << msg;
  const std::string msg2 = error_of([&] { c.set("output.format=3"); });
  EXPECT_NE(msg2.find("'output.format' expects a string"), std::string::npos) << msg2;
}

TEST(Config, FileErrorsNameTheFileAndLeaveValuesUnchanged) {
  const std::string dir = test::fresh_temp_dir();
  const std::string bad = dir + "/p2p_bad_config.json";
  write_text_file_atomic(bad, R"({"powerflow": {"backend": "cuda", "max_iter": 3}})");
  Config c = small();
  const std::string msg = error_of([&] { c.merge_file(bad); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'powerflow.max_iterations'"), std::string::npos) << msg;
  EXPECT_EQ(c.string("powerflow.backend"), "cpu");  // all-or-nothing merge

  const std::string broken = dir + "/p2p_broken_config.json";
  write_text_file_atomic(broken, "{\"powerflow\": {\n  \"backend\": cuda}}");
  const std::string msg2 = error_of([&] { c.merge_file(broken); });
  EXPECT_NE(msg2.find(broken + ": not valid JSON"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("line 2"), std::string::npos) << msg2;
}

TEST(Config, AKeyGivenTwiceInAFileIsAnError) {
  // JSON would keep the last value silently; a sweep's config edited by hand should not.
  const std::string dir = test::fresh_temp_dir();
  const std::string twice = dir + "/twice.json";
  write_text_file_atomic(twice, R"({"powerflow": {"max_iterations": 3, "max_iterations": 4}})");
  Config c = small();
  const std::string msg = error_of([&] { c.merge_file(twice); });
  EXPECT_NE(msg.find(twice + ": key 'max_iterations' appears twice"), std::string::npos) << msg;
  // The same key in two different objects is fine, at any depth and in arrays of objects,
  // and a key of a closed object does not count in the one around it.
  const std::string apart = dir + "/apart.json";
  write_text_file_atomic(apart, R"({"powerflow": {"max_iterations": 3},
                                   "output": {"format": "json"}, "format": [{"a": {"b": 1}, "b": 2},
                                   {"a": 1, "b": [{"b": 1}, {"b": 2}]}]})");
  Config with_array(json::parse(R"({"powerflow": {"max_iterations": 50},
                                    "output": {"format": "text"}, "format": []})"));
  with_array.merge_file(apart);
  EXPECT_EQ(with_array.integer("powerflow.max_iterations"), 3);
  EXPECT_EQ(with_array.at("format").size(), 2u);
  // A duplicate inside an array's object, after closed ones, is still found.
  write_text_file_atomic(twice,
                         R"({"format": [{"a": {"b": 1}}, {"a": 1, "c": {"d": 2}, "a": 2}]})");
  const std::string nested = error_of([&] { with_array.merge_file(twice); });
  EXPECT_NE(nested.find("key 'a' appears twice"), std::string::npos) << nested;
}

TEST(Config, IntegerKeysTakeNumbersWithoutAFraction) {
  // 1e3 from a sweep script is the integer 1000; 2.5 and null are still errors.
  Config c = small();
  c.set("powerflow.max_iterations=1e3");
  EXPECT_EQ(c.integer("powerflow.max_iterations"), 1000);
  EXPECT_TRUE(c.values()["powerflow"]["max_iterations"].is_number_integer());
  c.merge(nlohmann::json::parse(R"({"powerflow": {"max_iterations": 20.0}})"), "test");
  EXPECT_EQ(c.integer("powerflow.max_iterations"), 20);
  const std::string msg = error_of([&] { c.set("powerflow.max_iterations=null"); });
  EXPECT_NE(msg.find("expects an integer, got null"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("null null"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { c.set("powerflow.max_iterations=1e30"); }).find("expects an integer"),
            std::string::npos);
}

TEST(Config, MalformedSetAssignment) {
  Config c = small();
  EXPECT_NE(error_of([&] { c.set("powerflow.backend"); }).find("expected key.path=value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.set("powerflow..backend=cpu"); }).find("empty key"),
            std::string::npos);
  // A leading or trailing dot is an empty key too (a leading one made the split loop forever).
  for (const char* a : {".powerflow=1", "powerflow.=1", ".=1"})
    EXPECT_NE(error_of([&] { c.set(a); }).find("empty key"), std::string::npos) << a;
  c.set("powerflow.backend=cpu");  // and a well-formed path still works
  EXPECT_EQ(c.string("powerflow.backend"), "cpu");
}

TEST(Config, EmbeddedDefaultsEqualConfigsDefaultJson) {
  const json file = json::parse(read_text_file(std::string(P2P_SOURCE_DIR) + "/configs/default.json"));
  EXPECT_EQ(Config::defaults().values(), file);
}

TEST(Config, EveryDefaultKeyIsDocumented) {
  const std::string doc = read_text_file(std::string(P2P_SOURCE_DIR) + "/configs/README.md");
  for (const std::string& key : Config::defaults().leaf_keys())
    EXPECT_NE(doc.find("`" + key + "`"), std::string::npos)
        << "configs/README.md does not document " << key;
}

}  // namespace
}  // namespace p2pgrid
