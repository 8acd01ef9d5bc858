module kedro-kinetic.local/bench/pause

go 1.24.0
