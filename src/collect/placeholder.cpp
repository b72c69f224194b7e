// Placeholder so the collect library has a source until the collectors land.
namespace sockdoctor::collect {}
