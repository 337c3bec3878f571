"""HTTP endpoints: validate the input serializer, call one service or selector, render the output."""
