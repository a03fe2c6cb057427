fn main() {
    fanout::mount();
}
