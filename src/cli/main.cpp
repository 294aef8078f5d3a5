// p2pgrid entry point: finds the command (longest match of leading words), parses the shared
// options, runs it. User errors print "p2pgrid: error: ..." and exit 2.
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli.hpp"
#include "p2pgrid/core/error.hpp"
#include "p2pgrid/core/io.hpp"

namespace p2pgrid::cli {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

std::string Invocation::flag_or(const std::string& flag, const std::string& fallback) const {
  const auto it = flags.find(flag);
  return it == flags.end() ? fallback : it->second;
}

void Invocation::prepare_out_dir() const {
  if (out_dir.empty()) return;
  // Written and removed: the folder exists and takes files (atomic writes put theirs beside).
  try {
    write_text_file_atomic(out_dir + "/.p2pgrid_write_check", "");
  } catch (const Error& e) {
    throw Error("--out " + out_dir + ": the folder cannot take the run's files: " + e.what());
  }
  std::remove((out_dir + "/.p2pgrid_write_check").c_str());
  write_text_file_atomic(out_dir + "/run.json", run_json("running").dump(2) + "\n");
}

int Invocation::fail(const std::string& why) {
  std::cerr << "p2pgrid: error: " << why << "\n";
  failure = why;
  return 1;
}

void Invocation::write_config() const {
  if (out_dir.empty()) return;
  write_text_file_atomic(out_dir + "/config.json", config.values().dump(2) + "\n");
}

nlohmann::json Invocation::run_json(const std::string& status) const {
  return {{"p2pgrid_version", build_version()},
          {"git_commit", build_commit()},
          {"command", command},
          {"argv", argv},
          {"status", status}};
}

void Invocation::write_run_record(int exit_status, const std::string& error) const {
  if (out_dir.empty()) return;
  // The record is written even where the config cannot be (and then says so).
  std::string config_error;
  try {
    write_config();
  } catch (const Error& e) {
    config_error = e.what();
  }
  const std::string what = !error.empty() ? error : !config_error.empty() ? config_error : failure;
  const bool failed = !what.empty() || exit_status != 0;
  nlohmann::json run = run_json(failed ? "failed" : "finished");
  run["exit_status"] = failed && exit_status == 0 ? 2 : exit_status;
  if (!what.empty()) run["error"] = what;
  write_text_file_atomic(out_dir + "/run.json", run.dump(2) + "\n");
  if (!config_error.empty() && error.empty()) throw Error(config_error);  // else reported
}

Invocation parse_invocation(const Command& cmd, const std::vector<std::string>& args) {
  Invocation inv;
  std::vector<std::string> known = {"--config", "--set", "--out", "--help"};
  for (const auto& a : cmd.aliases) known.push_back(a.flag);
  for (const auto& f : cmd.flags) known.push_back(f.name);
  auto value_of = [&](size_t& i) -> std::string {
    const std::string& flag = args[i];
    if (i + 1 >= args.size()) throw Error(cmd.name + ": " + flag + " expects a value");
    // `--day --split test` forgot the day: the next word is a flag, not the value.
    const std::string& next = args[i + 1];
    const std::string next_flag = next.substr(0, next.find('='));
    if (std::find(known.begin(), known.end(), next_flag) != known.end())
      throw Error(cmd.name + ": " + flag + " expects a value, got the option " + next);
    return args[++i];
  };
  // --config first, so that --set and aliases override it whatever their position.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") inv.config.merge_file(value_of(i));
    if (args[i].rfind("--config=", 0) == 0) inv.config.merge_file(args[i].substr(9));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      inline_value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_inline = true;
    }
    auto take = [&]() { return has_inline ? inline_value : value_of(i); };
    if (arg == "--config") {
      if (!has_inline) ++i;
      continue;
    }
    if (arg == "--set") {
      inv.config.set(take());
      continue;
    }
    if (arg == "--out") {
      inv.out_dir = take();
      if (inv.out_dir.empty()) throw Error(cmd.name + ": --out expects a folder, got ''");
      continue;
    }
    bool matched = false;
    for (const auto& a : cmd.aliases) {
      if (a.flag == arg) {
        inv.config.set(a.config_path + "=" + take());
        matched = true;
      }
    }
    for (const auto& f : cmd.flags) {
      if (f.name == arg) {
        if (!f.takes_value && has_inline)  // --json=false would otherwise turn JSON on
          throw Error(cmd.name + ": " + arg + " is a switch and takes no value (got '" + args[i] +
                      "')");
        inv.flags[arg] = f.takes_value ? take() : "";
        matched = true;
      }
    }
    if (matched) continue;
    if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && std::isdigit(arg[1]))) {
      throw Error(cmd.name + ": unknown option '" + arg + "' (did you mean '" +
                  nearest_key(arg, known) + "'? see p2pgrid " + cmd.name + " --help)");
    }
    inv.positional.push_back(args[i]);
  }
  const int np = static_cast<int>(inv.positional.size());
  if (np > cmd.max_positional) {
    std::string extra;
    for (int k = cmd.max_positional; k < np; ++k) extra += " '" + inv.positional[k] + "'";
    throw Error(cmd.name + ": unexpected argument(s)" + extra + " (it takes " +
                std::to_string(cmd.max_positional) + "); usage: p2pgrid " + cmd.name + " " +
                cmd.usage);
  }
  if (np < cmd.min_positional) {
    throw Error(cmd.name + ": expected " +
                (cmd.min_positional == cmd.max_positional
                     ? std::to_string(cmd.min_positional)
                     : std::to_string(cmd.min_positional) + " to " +
                           std::to_string(cmd.max_positional)) +
                " argument(s), got " + std::to_string(np) + "; usage: p2pgrid " + cmd.name + " " +
                cmd.usage);
  }
  return inv;
}

std::string command_help(const Command& cmd) {
  std::ostringstream os;
  os << "usage: p2pgrid " << cmd.name << " " << cmd.usage << "\n\n" << cmd.summary << "\n\n";
  os << "options:\n";
  os << "  --config FILE.json     merge a config file over the defaults (p2pgrid config show)\n";
  os << "  --set key.path=value   override one config key (repeatable)\n";
  os << "  --out DIR              write outputs and the resolved config.json to DIR\n";
  for (const auto& a : cmd.aliases) {
    std::string left = a.flag + " VALUE";
    left.resize(std::max<size_t>(left.size() + 1, 23), ' ');
    os << "  " << left << "same as --set " << a.config_path << "=VALUE\n";
  }
  for (const auto& f : cmd.flags) {
    std::string left = f.name + (f.takes_value ? " VALUE" : "");
    left.resize(std::max<size_t>(left.size() + 1, 23), ' ');
    os << "  " << left << f.help << "\n";
  }
  return os.str();
}

namespace {

void print_overview(std::ostream& os) {
  os << "p2pgrid: batched GPU/CPU simulator for MARL in P2P electricity trading\n\n"
        "usage: p2pgrid <command> [--config FILE.json] [--set key.path=value]... [--out DIR]\n\n"
        "commands:\n";
  for (const auto& c : registry()) {
    std::string left = c.name;
    left.resize(std::max<size_t>(left.size() + 1, 20), ' ');
    os << "  " << left << c.summary << "\n";
  }
  os << "\n'p2pgrid <command> --help' describes each command.\n";
}

}  // namespace
}  // namespace p2pgrid::cli

int main(int argc, char** argv) {
  using namespace p2pgrid::cli;
  register_study_command();
  register_network_commands();
  register_powerflow_commands();
  register_env_commands();
  register_expert_commands();
  register_config_commands();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_overview(std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "p2pgrid " << p2pgrid::build_version() << " (commit " << p2pgrid::build_commit()
              << ")\n";
    return 0;
  }
  // Longest command name matching the leading words.
  const Command* cmd = nullptr;
  size_t words = 0;
  for (const auto& c : registry()) {
    std::istringstream ss(c.name);
    std::vector<std::string> parts;
    for (std::string w; ss >> w;) parts.push_back(w);
    if (parts.size() > args.size() || parts.size() <= words) continue;
    if (std::equal(parts.begin(), parts.end(), args.begin())) {
      cmd = &c;
      words = parts.size();
    }
  }
  // Outside the try for the handlers' record; built inside it (the defaults' parse may throw).
  std::optional<Invocation> inv;
  bool out_ready = false;  // the --out folder was checked and marked running
  // A failed run's record replaces the "running" one (best effort: the error is reported).
  auto record_failure = [&](int status, const std::string& error) {
    if (!out_ready) return;
    try {
      inv->write_run_record(status, error);
    } catch (const std::exception& e) {
      std::cerr << "p2pgrid: error: writing the failed run's record: " << e.what() << "\n";
    }
  };
  try {
    if (!cmd) {
      std::vector<std::string> names, group;  // group: the commands that start with args[0]
      for (const auto& c : registry()) {
        names.push_back(c.name);
        if (c.name.rfind(args[0] + " ", 0) == 0) group.push_back("'p2pgrid " + c.name + "'");
      }
      if (!group.empty()) {
        std::string list = group[0];
        for (std::size_t i = 1; i < group.size(); ++i) list += ", " + group[i];
        // `bench exper`: a word that is no subcommand, as opposed to none at all.
        if (args.size() > 1 && args[1].rfind("-", 0) != 0)
          throw p2pgrid::Error("unknown command '" + args[0] + " " + args[1] + "' (did you mean '" +
                               p2pgrid::nearest_key(args[0] + " " + args[1], names) +
                               "'? the subcommands are " + list + ")");
        throw p2pgrid::Error("'" + args[0] + "' needs a subcommand: " + list);
      }
      throw p2pgrid::Error("unknown command '" + args[0] + "' (did you mean '" +
                           p2pgrid::nearest_key(args[0], names) + "'? see p2pgrid --help)");
    }
    std::vector<std::string> rest(args.begin() + words, args.end());
    for (const auto& a : rest) {
      if (a == "--help" || a == "-h") {
        std::cout << command_help(*cmd);
        return 0;
      }
    }
    inv = parse_invocation(*cmd, rest);
    inv->command = cmd->name;
    inv->argv.assign(argv, argv + argc);
    inv->prepare_out_dir();
    out_ready = true;
    // This run's config from its start (the end writes it again, as the command resolved it):
    // a run that dies leaves its own config beside its "running" record, not the last run's.
    inv->write_config();
    const int status = cmd->run(*inv);
    inv->write_run_record(status);  // every run's resolved config and provenance beside its outputs
    return status;
  } catch (const p2pgrid::Error& e) {
    std::cerr << "p2pgrid: error: " << e.what() << "\n";
    record_failure(2, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "p2pgrid: internal error: " << e.what() << "\n";
    record_failure(3, e.what());
    return 3;
  }
}
