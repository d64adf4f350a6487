console.log("paddock");
