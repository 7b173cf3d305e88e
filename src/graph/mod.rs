//! The dependency graph of a stack's resources: an edge from A to B when B references A
//! (`${A.attr}`) or lists it in `depends_on`. Built once per run; cycles are errors that
//! name the whole cycle.

pub mod walk;

use std::collections::{BTreeSet, HashMap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::config::expr::{references, RefTarget};
use crate::config::Stack;
use crate::diag::{Diagnostic, Diagnostics};

#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl DependencyGraph {
    /// Adds a node if missing; returns its index.
    pub fn add_node(&mut self, name: &str) -> NodeIndex {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.graph.add_node(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// `dependent` needs `dependency` first.
    pub fn add_dependency(&mut self, dependent: &str, dependency: &str) {
        let a = self.add_node(dependency);
        let b = self.add_node(dependent);
        if !self.graph.contains_edge(a, b) {
            self.graph.add_edge(a, b, ());
        }
    }

    /// Builds the graph of a loaded stack. Unknown targets were already reported by
    /// validation and are ignored here. Errors: one per dependency cycle.
    pub fn from_stack(stack: &Stack) -> (DependencyGraph, Diagnostics) {
        let mut g = DependencyGraph::default();
        for name in stack.resources.keys() {
            g.add_node(name);
        }
        for (name, decl) in &stack.resources {
            let (refs, _) = references(&decl.properties);
            for r in refs {
                if let RefTarget::Resource(target) = &r.target {
                    if stack.resources.contains_key(target) {
                        g.add_dependency(name, target);
                    }
                }
            }
            for (dep, _) in &decl.depends_on {
                if stack.resources.contains_key(dep) {
                    g.add_dependency(name, dep);
                }
            }
        }
        let mut diags = Diagnostics::new();
        for cycle in g.cycles() {
            let first = &stack.resources[&cycle[0]];
            let mut path = cycle.clone();
            path.push(cycle[0].clone());
            diags.push(
                Diagnostic::error(
                    "stack::dependency_cycle",
                    format!("dependency cycle: {}", path.join(" -> ")),
                )
                .with_span(first.span.clone())
                .with_field(format!("resources.{}", cycle[0]))
                .with_detail(
                    "each resource in the cycle waits for the next, so none can be applied first",
                )
                .with_help(
                    "remove one of the references or depends_on entries that close the cycle",
                ),
            );
        }
        (g, diags)
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Direct dependencies of a node, sorted.
    pub fn dependencies(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Direction::Incoming)
    }

    /// Direct dependents of a node, sorted.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Direction::Outgoing)
    }

    fn neighbors(&self, name: &str, dir: Direction) -> Vec<String> {
        let Some(&i) = self.index.get(name) else {
            return Vec::new();
        };
        let set: BTreeSet<String> = self
            .graph
            .neighbors_directed(i, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        set.into_iter().collect()
    }

    /// The given nodes and everything they depend on, transitively.
    pub fn with_dependencies<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = names
            .into_iter()
            .filter_map(|n| self.index.get(n).copied())
            .collect();
        while let Some(i) = stack.pop() {
            if out.insert(self.graph[i].clone()) {
                stack.extend(self.graph.neighbors_directed(i, Direction::Incoming));
            }
        }
        out
    }

    /// Every cycle, each as the list of its nodes in dependency order, starting from the
    /// alphabetically first node so messages are stable.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let start = *scc
                .iter()
                .min_by_key(|i| &self.graph[**i])
                .expect("non-empty");
            out.push(self.cycle_from(start, &members));
        }
        out.sort();
        out
    }

    /// Walks from `start` along dependencies inside the component until it returns to
    /// start: the cycle `a -> b -> c` reads "a waits for b, b for c, c for a".
    fn cycle_from(&self, start: NodeIndex, members: &BTreeSet<NodeIndex>) -> Vec<String> {
        // Breadth-first search for the shortest path back to start.
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(i) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(i, Direction::Incoming)
                .filter(|n| members.contains(n))
                .collect();
            next.sort_by_key(|n| &self.graph[*n]);
            for n in next {
                if n == start {
                    let mut path = vec![i];
                    let mut cur = i;
                    while cur != start {
                        cur = prev[&cur];
                        path.push(cur);
                    }
                    path.reverse();
                    return path.into_iter().map(|p| self.graph[p].clone()).collect();
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(n) {
                    e.insert(i);
                    queue.push_back(n);
                }
            }
        }
        vec![self.graph[start].clone()]
    }

    /// Nodes so that every node comes after its dependencies; ties in name order.
    /// Call only on an acyclic graph.
    pub fn topo_order(&self) -> Vec<String> {
        let mut waiting: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|i| {
                (
                    i,
                    self.graph
                        .neighbors_directed(i, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<(&str, NodeIndex)> = waiting
            .iter()
            .filter(|(_, w)| **w == 0)
            .map(|(i, _)| (self.graph[*i].as_str(), *i))
            .collect();
        let mut out = Vec::with_capacity(self.len());
        while let Some(first) = ready.pop_first() {
            out.push(first.0.to_string());
            for n in self.graph.neighbors_directed(first.1, Direction::Outgoing) {
                let w = waiting.get_mut(&n).expect("node");
                *w -= 1;
                if *w == 0 {
                    ready.insert((self.graph[n].as_str(), n));
                }
            }
        }
        out
    }

    /// Graphviz DOT, edges pointing from a dependency to its dependent.
    pub fn to_dot(&self, labels: &dyn Fn(&str) -> String) -> String {
        let mut out =
            String::from("digraph trustplane {\n  rankdir = LR;\n  node [shape = box];\n");
        let mut names: Vec<&String> = self.index.keys().collect();
        names.sort();
        for name in &names {
            out.push_str(&format!("  {:?} [label = {:?}];\n", name, labels(name)));
        }
        let mut edges: Vec<(&str, &str)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (self.graph[a].as_str(), self.graph[b].as_str()))
            .collect();
        edges.sort();
        for (a, b) in edges {
            out.push_str(&format!("  {a:?} -> {b:?};\n"));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> DependencyGraph {
        let mut g = DependencyGraph::default();
        for (dependent, dependency) in edges {
            g.add_dependency(dependent, dependency);
        }
        g
    }

    #[test]
    fn names_the_whole_cycle() {
        // a waits for b, b for c, c for a: a -> b -> c -> a
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        assert_eq!(
            g.cycles(),
            vec![vec!["a".to_string(), "b".into(), "c".into()]]
        );
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let g = graph(&[("a", "a")]);
        assert_eq!(g.cycles(), vec![vec!["a".to_string()]]);
    }

    #[test]
    fn topo_order_puts_dependencies_first() {
        let g = graph(&[("app", "db"), ("db", "net"), ("app", "net"), ("web", "app")]);
        assert!(g.cycles().is_empty());
        assert_eq!(g.topo_order(), vec!["net", "db", "app", "web"]);
        assert_eq!(g.dependencies("app"), vec!["db", "net"]);
        assert_eq!(g.dependents("net"), vec!["app", "db"]);
    }

    #[test]
    fn target_closure_includes_transitive_dependencies() {
        let g = graph(&[("app", "db"), ("db", "net"), ("other", "x")]);
        let set = g.with_dependencies(["app"]);
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec!["app", "db", "net"]
        );
    }

    #[test]
    fn dot_lists_nodes_and_edges() {
        let g = graph(&[("b", "a")]);
        let dot = g.to_dot(&|n| format!("{n} (core.null)"));
        assert!(dot.contains("\"a\" -> \"b\";"));
        assert!(dot.contains("label = \"a (core.null)\""));
    }
}
