// The distribution-feeder data model: structure-of-arrays per element type, units in every name.
// Per-unit conversion happens in one place (Network::z_base_ohm); everything else reads fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace p2pgrid {

/// A radial (or meshed, rejected by build_radial_topology) distribution feeder.
/// Buses and branches keep the order of the source case; `bus_id` holds the case's own numbers.
struct Network {
  std::string name;    // e.g. "ieee141"
  std::string source;  // provenance: file, original paper, conversions applied
  double base_mva = 10.0;

  // Buses, [num_buses] each.
  std::vector<int> bus_id;             // the case's bus number (MATPOWER BUS_I)
  std::vector<double> base_kv;         // nominal line-to-line voltage, kV
  std::vector<double> p_load_kw;       // constant-power demand, kW
  std::vector<double> q_load_kvar;     // constant-power demand, kvar
  std::vector<double> g_shunt_kw;      // shunt conductance as kW consumed at V = 1 p.u. (MATPOWER Gs)
  std::vector<double> b_shunt_kvar;    // shunt susceptance as kvar injected at V = 1 p.u. (MATPOWER Bs)
  std::vector<double> v_min_pu;        // voltage limits used by the env penalty and the expert
  std::vector<double> v_max_pu;
  int slack_bus = 0;                   // index into the bus arrays (not the case's number)
  double v_slack_pu = 1.0;             // slack voltage magnitude, angle 0

  // Branches, [num_branches] each; from/to are bus indices.
  std::vector<int> from_bus;
  std::vector<int> to_bus;
  std::vector<double> r_ohm;           // series resistance, ohm (on the from bus's base kV)
  std::vector<double> x_ohm;           // series reactance, ohm
  std::vector<double> r_pu;            // the same on the system base (base_mva, from bus base_kv)
  std::vector<double> x_pu;
  std::vector<double> b_pu;            // total line-charging susceptance, p.u. (split half/half)
  std::vector<std::uint8_t> in_service;  // 0 = open (e.g. case33bw's tie lines)

  int num_buses() const { return static_cast<int>(bus_id.size()); }
  int num_branches() const { return static_cast<int>(from_bus.size()); }
  /// Base impedance at a bus, ohm: base_kv^2 / base_mva.
  double z_base_ohm(int bus) const { return base_kv[bus] * base_kv[bus] / base_mva; }
  /// Index of the bus with case number `id`, or -1.
  int bus_index(int id) const;
  /// Total constant-power demand, kW / kvar.
  double total_load_kw() const;
  double total_load_kvar() const;
};

/// Radial structure of the in-service branches, rooted at the slack bus.
/// Buses are listed in breadth-first order so that a forward sweep visits parents first and a
/// backward sweep (reverse order) visits children first.
struct RadialTopology {
  std::vector<int> order;          // [num_buses] bus indices, order[0] = slack
  std::vector<int> parent_bus;     // [num_buses] parent bus index, -1 for the slack
  std::vector<int> parent_branch;  // [num_buses] index of the branch to the parent, -1 for slack
  std::vector<int> depth;          // [num_buses] branches between the bus and the slack
};

/// Checks that the in-service branches form a spanning tree rooted at the slack bus and that
/// every impedance is positive. Throws p2pgrid::Error naming `where` (a file) and the offending
/// bus or branch (case numbers) on a loop, an island, or a non-positive impedance.
RadialTopology build_radial_topology(const Network& net, const std::string& where);

/// Checks array sizes, finite values, limits and bus references; throws p2pgrid::Error.
void validate_network(const Network& net, const std::string& where);

/// Reads a MATPOWER case file (.m), including the post-processing statements found at the end of
/// case141.m / case33bw.m / case69.m (ohm -> p.u., kW -> MW, kVA at a power factor -> MW, MVAr).
/// Errors name the file and line.
Network import_matpower(const std::string& path);
/// The same from text; `where` names the source in messages.
Network parse_matpower(const std::string& text, const std::string& where);

/// Reads / writes the project's own network JSON (data/networks/*.json).
Network read_network_json(const std::string& path);
Network network_from_json_text(const std::string& text, const std::string& where);
std::string network_to_json_text(const Network& net);
/// Writes atomically (temporary file then rename).
void write_network_json(const Network& net, const std::string& path);

/// Loads a network by path: `.m` -> MATPOWER importer, `.json` -> project JSON,
/// `builtin:NAME` -> a network embedded in the binary (builtin:ieee141).
Network load_network(const std::string& spec);

}  // namespace p2pgrid
