"""SynthTalk: synthetic talking heads whose factors are known per frame (SYNTHTALK.md)."""
