module github.com/hoistbot/hoist

go 1.26.8
