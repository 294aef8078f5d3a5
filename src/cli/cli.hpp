// The command-line shape shared by every p2pgrid command:
//   p2pgrid <command> [--config FILE.json] [--set key.path=value]... [--out DIR] [flags] [args]
// A command declares flag aliases for config keys (--backend X == --set powerflow.backend=X),
// its own flags and switches; everything else is an error that names the nearest valid flag.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "p2pgrid/core/config.hpp"
#include "p2pgrid/core/threads.hpp"
#include "p2pgrid/env/env_spec.hpp"

namespace p2pgrid::cli {

struct Alias {
  std::string flag;         // "--backend"
  std::string config_path;  // "powerflow.backend"
};

struct Flag {
  std::string name;  // "-o", "--name"
  std::string help;
  bool takes_value = true;
};

struct Invocation {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;  // flag -> value ("" for switches)
  Config config = Config::defaults();
  std::string out_dir;  // "" when --out was not given
  std::string command;  // "bench expert"
  std::vector<std::string> argv;  // the whole command line, program name first
  std::string failure;            // why a run that wrote its outputs exits 1 (run.json's "error")

  /// A failure found after the outputs were written (an expert plan not solved, a power flow
  /// that diverged): printed as an error, kept for run.json, and the exit status 1 returned.
  int fail(const std::string& why);

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  std::string flag_or(const std::string& flag, const std::string& fallback) const;
  /// Creates the --out folder and checks that files can be written there, before the run, so
  /// that a bad path fails in a second instead of after the work it would lose; then marks the
  /// folder's run.json as running (status "running"), so that a run that dies leaves no earlier
  /// run's record claiming the folder's files.
  void prepare_out_dir() const;
  /// The resolved config to out_dir/config.json (nothing without --out).
  void write_config() const;
  /// When --out was given: the resolved config to OUT/config.json and what made the outputs to
  /// OUT/run.json (version, git commit, command line, status "finished", or "failed" for a
  /// nonzero exit status, the exit status, and the error of a failed run: `error`, else the
  /// config's own write error, else `failure`).
  void write_run_record(int exit_status, const std::string& error = "") const;
  nlohmann::json run_json(const std::string& status) const;
};

}  // namespace p2pgrid::cli

namespace p2pgrid {
/// The version and git commit ("-dirty" when tracked files differed) of this binary, from
/// build_info.cpp, which the build regenerates (cmake/P2PBuildInfo.cmake).
const char* build_version();
const char* build_commit();
}  // namespace p2pgrid

namespace p2pgrid::cli {

struct Command {
  std::string name;     // "bench powerflow"
  std::string summary;  // one line
  std::string usage;    // argument synopsis after the name
  std::vector<Alias> aliases;
  std::vector<Flag> flags;
  int min_positional = 0, max_positional = 0;
  std::function<int(Invocation&)> run;
};

/// Every command, in help order. Each commands_*.cpp adds its own through register_*.
std::vector<Command>& registry();
void register_network_commands();
void register_powerflow_commands();
void register_study_command();
void register_config_commands();
void register_env_commands();
void register_expert_commands();

/// Points the env at rollout.split (the days rollout and expert play); a bad name is an Error
/// naming rollout.split.
void play_days_of_rollout_split(Config& config);

/// Plays rollout.days whole days of rollout.split with rollout.policy (zero, random, expert) and
/// returns the report: per-day and mean metrics (see docs/env.md). Writes rollout.trace if set.
nlohmann::json play_rollout(Config& config);

/// Resolves and checks everything play_rollout reads (split, env spec and profiles, power flow,
/// day count, policy, expert settings, trace file) without playing: an Error names the bad key
/// in a second instead of after the work before it. Returns the env spec of rollout.split.
EnvSpec check_rollout_config(Config config);

/// What `config show --check` checks: check_rollout_config, and what `expert` and the benches
/// read (expert.day, env.split, bench.*), each key named in its Error.
void check_config(Config config);

/// For a report of play_rollout with the expert policy: what went wrong if any plan was not
/// solved or failed the DSO's AC check (the commands then exit 1 through Invocation::fail after
/// writing their outputs, so that a sweep's driver sees it); "" otherwise.
std::string expert_failure(const nlohmann::json& report);
/// One line on the certificates of the expert's solved plans (a rollout report's "expert"
/// object, with expert.certify), after `prefix`.
void print_expert_certificates(const nlohmann::json& expert, const std::string& prefix);

/// The day of the year that expert.day (an index into env.split's days) names; an Error names
/// the key and the split's range.
int expert_day_of_year(const Config& config, const EnvSpec& spec);

/// True for output.format = json, false for text; any other value is an Error naming the key
/// (for the commands that print a report as text or JSON).
bool json_output(const Config& config);

/// Parses argv for `cmd` (argv after the command words) into an Invocation; throws Error.
Invocation parse_invocation(const Command& cmd, const std::vector<std::string>& args);
std::string command_help(const Command& cmd);

}  // namespace p2pgrid::cli
