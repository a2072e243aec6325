//! Real datapaths. Modules are added by later issues.
